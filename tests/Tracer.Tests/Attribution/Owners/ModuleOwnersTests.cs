using System.IO.Compression;
using Tracer.Attribution;
using Tracer.Records;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>
/// A module's owner, from a node tree made here: real module files (gcc, openssl: <see cref="KernelModuleFiles"/>)
/// installed under lib/modules/RELEASE as depmod and a package would leave them, a dpkg database, and the sysfs
/// attributes of the loaded module. This machine's kernel cannot load modules, so /sys/module is stood in for by
/// files holding what the kernel writes there; the kernel matrix runs the same against a module the kernel loaded.
/// </summary>
[UnitTest]
public sealed class ModuleOwnersTests : IDisposable
{
    internal const string Release = "6.1.0-57-cloud-amd64";
    internal const string SrcVersion = "5C3C2A4F8D1E0B9A7F6E5D4";
    private const string Signer = "Example EDR Inc. signing key";

    private readonly string _root = Directory.CreateTempSubdirectory("tracer-module-owner-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    internal ModuleSources Sources => new(Path.Combine(_root, "sys/module"), _root, Release);

    internal string ModulesDirectory => Path.Combine(_root, "lib/modules", Release);

    [Fact]
    public void AnOutOfTreeModuleIsNamedWithItsFileFieldsSignerTaintAndPackage()
    {
        var module = Install("extra/edr_agent.ko", EdrFields(SrcVersion));
        var key = KernelModuleFiles.SigningKey(_root, Signer);
        KernelModuleFiles.Sign(module, key);
        DependsLine("extra/edr_agent.ko:");
        Loaded("edr_agent", SrcVersion, "7.1.3", "OE");
        DpkgOwns("edr-agent", "7.1.3", $"/lib/modules/{Release}/extra/edr_agent.ko");

        var owner = ModuleOwners.Find("edr_agent", Sources)!;

        var path = $"/lib/modules/{Release}/extra/edr_agent.ko";
        Assert.Equal(OwnerKind.KernelModule, owner.Kind);
        Assert.Equal("edr_agent", owner.Name);
        Assert.Equal(CulpritConfidence.Exact, owner.Confidence);
        var facts = owner.Module!;
        Assert.Equal(path, facts.Path);
        Assert.Equal("7.1.3", facts.Version);
        Assert.Equal("Example EDR Inc.", facts.Author);
        Assert.Equal("EDR network protection", facts.Description);
        Assert.Equal("GPL", facts.License);
        Assert.Equal($"{Release} SMP preempt mod_unload modversions ", facts.Vermagic);
        Assert.Equal(SrcVersion, facts.SrcVersion);
        Assert.Equal(Signer, facts.Signer);
        Assert.Equal(key.Serial.TrimStart('0'), facts.SigKey!.Replace(":", "", StringComparison.Ordinal).TrimStart('0'));
        Assert.Equal("sha256", facts.SigHashAlgo);
        Assert.Equal(["out-of-tree", "unsigned"], facts.Taints);
        Assert.Equal(new OwnerPackage("dpkg", "edr-agent", "7.1.3"), owner.Package);
        Assert.Equal($"a third-party kernel module (edr_agent 7.1.3, signed by {Signer}, a key this kernel does not trust), not part of the kernel: " +
                     $"{path}, package edr-agent 7.1.3 (dpkg)", owner.Summary);
        Assert.Contains($"{path} (modules.dep): srcversion {SrcVersion}, the loaded module's", owner.Evidence);
        Assert.Contains(owner.Evidence, e => e.EndsWith("/taint: OE (out-of-tree, unsigned)", StringComparison.Ordinal));
    }

    /// <summary>The installed file is another build than the loaded module: said, and none of its fields claimed.</summary>
    [Fact]
    public void AFileWhoseSrcversionDiffersIsNotClaimed()
    {
        Install("extra/edr_agent.ko", EdrFields("0123456789ABCDEF0123456"));
        DependsLine("extra/edr_agent.ko:");
        Loaded("edr_agent", SrcVersion, "7.1.3", "O");

        var owner = ModuleOwners.Find("edr_agent", Sources)!;

        Assert.Null(owner.Module!.Path);
        Assert.Null(owner.Module.Author);
        Assert.Null(owner.Package);
        Assert.Equal(SrcVersion, owner.Module.SrcVersion); // the loaded module's, from sysfs
        Assert.Contains(owner.Evidence, e => e.Contains($"srcversion 0123456789ABCDEF0123456, the loaded module's {SrcVersion}: not this file", StringComparison.Ordinal));
        Assert.Equal($"a third-party kernel module (edr_agent 7.1.3), not part of the kernel; no file under /lib/modules/{Release} is the loaded one", owner.Summary);
    }

    /// <summary>Not in modules.dep (installed without depmod): found by name, '-' for '_', gzip-compressed (read by .NET).</summary>
    [Fact]
    public void AModuleMissingFromModulesDepIsFoundByNameAndReadCompressed()
    {
        var plain = Install("updates/dkms/edr-agent.ko", EdrFields(SrcVersion));
        using (var input = File.OpenRead(plain))
        using (var output = new GZipStream(File.Create(plain + ".gz"), CompressionLevel.Fastest))
            input.CopyTo(output);
        File.Delete(plain);
        DependsLine("kernel/net/netfilter/nf_tables.ko: kernel/lib/libcrc32c.ko");
        Loaded("edr_agent", SrcVersion, "7.1.3", "OE");

        var owner = ModuleOwners.Find("edr_agent", Sources)!;

        Assert.Equal($"/lib/modules/{Release}/updates/dkms/edr-agent.ko.gz", owner.Module!.Path);
        Assert.Equal("Example EDR Inc.", owner.Module.Author);
        Assert.Equal(CulpritConfidence.Exact, owner.Confidence);
        Assert.StartsWith("a third-party kernel module (edr_agent 7.1.3, unsigned), not part of the kernel: ", owner.Summary);
    }

    /// <summary>xz (as Debian 13 installs modules): read through the node's modinfo where it has one (kmod), else the path alone, said so.</summary>
    [Fact]
    public void AnXzModuleIsReadThroughModinfoOrNamedByPathAlone()
    {
        var module = Install("extra/edr_agent.ko", EdrFields(SrcVersion));
        KernelModuleFiles.Sign(module, KernelModuleFiles.SigningKey(_root, Signer));
        Shell.Check("xz", "--check=crc32", module);
        DependsLine("extra/edr_agent.ko.xz:");
        Loaded("edr_agent", SrcVersion, "7.1.3", "OE");

        var owner = ModuleOwners.Find("edr_agent", Sources)!;

        Assert.Equal($"/lib/modules/{Release}/extra/edr_agent.ko.xz", owner.Module!.Path);
        if (Shell.Run("sh", "-c", "command -v modinfo").ExitCode == 0)
        {
            Assert.Equal(CulpritConfidence.Exact, owner.Confidence);
            Assert.Equal("Example EDR Inc.", owner.Module.Author);
            Assert.Equal(Signer, owner.Module.Signer);
        }
        else
        {
            Assert.Equal(CulpritConfidence.Inferred, owner.Confidence);
            Assert.Contains(owner.Evidence, e => e.EndsWith("and no modinfo tool to read it: path only", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void AnInTreeModuleIsPartOfTheKernel()
    {
        Install("kernel/net/netfilter/nf_tables.ko", "license=GPL", "intree=Y", "name=nf_tables", $"vermagic={Release} SMP mod_unload ");
        DependsLine("kernel/net/netfilter/nf_tables.ko:");
        Loaded("nf_tables", srcVersion: null, version: null, taint: "");
        DpkgOwns($"linux-image-{Release}", "6.1.158-1", $"/lib/modules/{Release}/kernel/net/netfilter/nf_tables.ko");

        var owner = ModuleOwners.Find("nf_tables", Sources)!;

        Assert.Equal($"kernel module nf_tables, part of the kernel {Release}: /lib/modules/{Release}/kernel/net/netfilter/nf_tables.ko, " +
                     $"package linux-image-{Release} 6.1.158-1 (dpkg)", owner.Summary);
        Assert.Empty(owner.Module!.Taints);
        // Neither the file nor the loaded module has a srcversion: the file of that name is claimed, not confirmed.
        Assert.Equal(CulpritConfidence.Inferred, owner.Confidence);
    }

    /// <summary>A file of the module's name that is no kernel module (no .modinfo section) is not claimed.</summary>
    [Fact]
    public void AFileWithoutModinfoIsNotClaimed()
    {
        Install("extra/edr_agent.ko");
        DependsLine("extra/edr_agent.ko:");
        Loaded("edr_agent", SrcVersion, "7.1.3", "O");

        var owner = ModuleOwners.Find("edr_agent", Sources)!;

        Assert.Null(owner.Module!.Path);
        Assert.Contains(owner.Evidence, e => e.EndsWith("no .modinfo section: not a kernel module", StringComparison.Ordinal));
    }

    [Fact]
    public void ATruncatedSignatureNamesNoSigner()
    {
        var module = Install("extra/edr_agent.ko", EdrFields(SrcVersion));
        KernelModuleFiles.Sign(module, KernelModuleFiles.SigningKey(_root, Signer));
        var bytes = File.ReadAllBytes(module);
        File.WriteAllBytes(module, [.. bytes[..(bytes.Length - 300)], .. bytes[^40..]]); // the PKCS#7 cut, info and marker kept
        DependsLine("extra/edr_agent.ko:");
        Loaded("edr_agent", SrcVersion, "7.1.3", "OE");

        var owner = ModuleOwners.Find("edr_agent", Sources)!;

        Assert.NotNull(owner.Module!.Path);
        Assert.Null(owner.Module.Signer);
        Assert.Contains(owner.Evidence, e => e.EndsWith("a signature marker, but no PKCS#7 signature this reads", StringComparison.Ordinal));
        Assert.DoesNotContain("signed by", owner.Summary);
    }

    /// <summary>No file installed anywhere: what the running kernel says is still the owner, and the summary says the file was not found.</summary>
    [Fact]
    public void AModuleWithNoInstalledFileIsStillNamedFromTheKernel()
    {
        Directory.CreateDirectory(ModulesDirectory);
        Loaded("edr_agent", SrcVersion, "7.1.3", "POE");

        var owner = ModuleOwners.Find("edr_agent", Sources)!;

        Assert.Equal(CulpritConfidence.Exact, owner.Confidence);
        Assert.Equal(["proprietary license", "out-of-tree", "unsigned"], owner.Module!.Taints);
        Assert.Equal($"a third-party kernel module (edr_agent 7.1.3, unsigned), not part of the kernel; no installed file of it found under /lib/modules/{Release}",
                     owner.Summary);
    }

    [Fact]
    public void AModuleNeitherLoadedNorInstalledHasNoOwner()
    {
        DependsLine("kernel/net/netfilter/nf_tables.ko:");

        Assert.Null(ModuleOwners.Find("edr_agent", Sources));
    }

    [Theory]
    [InlineData("extra/edr_agent.ko", true)]
    [InlineData("/lib/modules/x/updates/edr-agent.ko.zst", true)]
    [InlineData("edr_agent.ko.xz", true)]
    [InlineData("edr_agent.o", false)]
    [InlineData("edr_agent_btf.ko", false)]
    [InlineData("edr_agent.ko.sig", false)]
    public void AFileIsTheModulesByItsNameAlone(string path, bool isIt) => Assert.Equal(isIt, ModuleOwners.NamesModule(path, "edr_agent"));

    internal static string[] EdrFields(string srcVersion) =>
        ["version=7.1.3", "license=GPL", "author=Example EDR Inc.", "description=EDR network protection", $"srcversion={srcVersion}",
         "depends=", "name=edr_agent", $"vermagic={Release} SMP preempt mod_unload modversions "];

    internal string Install(string relative, params string[] fields)
    {
        var path = Path.Combine(ModulesDirectory, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return KernelModuleFiles.Build(path, fields);
    }

    internal void DependsLine(string line)
    {
        Directory.CreateDirectory(ModulesDirectory);
        File.AppendAllText(Path.Combine(ModulesDirectory, "modules.dep"), line + "\n");
    }

    /// <summary>The attributes the kernel shows in /sys/module/NAME for a loaded module (those it has).</summary>
    internal void Loaded(string module, string? srcVersion, string? version, string taint)
    {
        var directory = Path.Combine(Sources.SysModule, module);
        Directory.CreateDirectory(directory);
        foreach (var (name, value) in new[] { ("srcversion", srcVersion), ("version", version), ("taint", taint) })
        {
            var file = Path.Combine(directory, name);
            if (value is null)
                File.Delete(file);
            else
                File.WriteAllText(file, value + "\n");
        }
    }

    /// <summary>dpkg's database as dpkg keeps it: the package's file list and its status stanza.</summary>
    private void DpkgOwns(string package, string version, string path)
    {
        var info = Path.Combine(_root, "var/lib/dpkg/info");
        Directory.CreateDirectory(info);
        File.WriteAllText(Path.Combine(info, $"{package}.list"), $"/.\n/lib\n{Path.GetDirectoryName(path)}\n{path}\n");
        File.AppendAllText(Path.Combine(_root, "var/lib/dpkg/status"), $"Package: {package}\nStatus: install ok installed\nVersion: {version}\n\n");
    }
}
