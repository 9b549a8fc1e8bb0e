using System.Text;
using Tracer.Attribution;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>The .modinfo parser on real ELF objects, compiled here with the section layout the kernel's MODULE_INFO produces.</summary>
[UnitTest]
public sealed class ModuleInfoTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tracer-modinfo-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void ReadsEveryFieldOfTheModinfoSection()
    {
        var module = KernelModuleFiles.Build(Path.Combine(_directory, "edr_agent.ko"),
            "version=7.1.3", "license=GPL", "author=Example EDR Inc. <security@example.com>", "description=EDR network protection",
            "alias=edr-net", "alias=edr-agent", "srcversion=5C3C2A4F8D1E0B9A7F6E5D4", "depends=", "name=edr_agent",
            "vermagic=6.1.0-57-cloud-amd64 SMP preempt mod_unload modversions ");

        var info = ModuleInfo.Read(File.ReadAllBytes(module));

        Assert.NotNull(info);
        Assert.Equal("7.1.3", info["version"]);
        Assert.Equal("GPL", info["license"]);
        Assert.Equal("Example EDR Inc. <security@example.com>", info["author"]);
        Assert.Equal("EDR network protection", info["description"]);
        Assert.Equal("5C3C2A4F8D1E0B9A7F6E5D4", info["srcversion"]);
        Assert.Equal("6.1.0-57-cloud-amd64 SMP preempt mod_unload modversions ", info["vermagic"]);
        Assert.Equal("", info["depends"]);
        Assert.Null(info["intree"]);
        Assert.Equal(["edr-net", "edr-agent"], info.Fields.Where(f => f.Key == "alias").Select(f => f.Value));
    }

    [Fact]
    public void AnObjectWithoutAModinfoSectionIsNoModule()
    {
        var plain = KernelModuleFiles.Build(Path.Combine(_directory, "plain.o"));

        Assert.Null(ModuleInfo.Read(File.ReadAllBytes(plain)));
    }

    [Fact]
    public void BytesThatAreNotElfAreNoModule()
    {
        Assert.Null(ModuleInfo.Read(Encoding.ASCII.GetBytes("version=7.1.3\0license=GPL\0")));
        Assert.Null(ModuleInfo.Read([]));
    }

    /// <summary>gcc puts the section header table at the end of the object: cut short, no section can be found.</summary>
    [Fact]
    public void AFileCutShortIsNoModule()
    {
        var bytes = File.ReadAllBytes(KernelModuleFiles.Build(Path.Combine(_directory, "cut.ko"), "version=1.0"));

        Assert.NotNull(ModuleInfo.Read(bytes));
        Assert.Null(ModuleInfo.Read(bytes[..(bytes.Length - 100)]));
        Assert.Null(ModuleInfo.Read(bytes[..64]));
    }

    [Fact]
    public void PaddingAndStringsWithoutAValueAreNoFields()
    {
        var fields = ModuleInfo.Parse("\0\0license=GPL\0\0\0garbage\0=novalue\0version=1=2\0"u8);

        Assert.Equal([new("license", "GPL"), new("version", "1=2")], fields);
    }
}
