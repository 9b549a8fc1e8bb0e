using System.IO.Compression;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>
/// A kernel module's owner: its file, modinfo fields, signer, taint and package. The kernel does not record where
/// insmod read a module from, so the file is looked for where modules are installed — modules.dep of the running
/// kernel, else a search of its module tree — and claimed only when its srcversion is the loaded module's.
/// </summary>
internal static class ModuleOwners
{
    public static CulpritOwner? Of(Culprit culprit, NodeAnswers node) => node.ModuleOwner(culprit.Module!);

    /// <summary>What the running kernel says of a loaded module (each null where sysfs has no such file), the key the cache is checked by.</summary>
    internal readonly record struct LoadedModule(bool IsLoaded, string? SrcVersion, string? Version, string? Taint)
    {
        public static LoadedModule Read(string module, ModuleSources sources)
        {
            var directory = Path.Join(sources.SysModule, module);
            string? Attribute(string name) => ReadTrimmed(Path.Join(directory, name));
            return new LoadedModule(Directory.Exists(directory), Attribute("srcversion"), Attribute("version"), Attribute("taint"));
        }
    }

    /// <summary>The owner of a module, looked up afresh (<see cref="ModuleOwnerCache"/> keeps it); null when neither the kernel nor the module tree knows it.</summary>
    internal static CulpritOwner? Find(string module, ModuleSources sources)
    {
        var loaded = LoadedModule.Read(module, sources);
        var sysfs = Path.Join(sources.SysModule, module);
        var evidence = new List<string>();
        if (!loaded.IsLoaded)
            evidence.Add($"{sysfs}: absent (the module is no longer loaded)");
        if (loaded.Taint is { } taint)
            evidence.Add($"{sysfs}/taint: {(taint.Length == 0 ? "(none)" : $"{taint} ({string.Join(", ", ModuleTaints.Spell(taint))})")}");
        if (loaded.SrcVersion is { } srcVersion)
            evidence.Add($"{sysfs}/srcversion: {srcVersion}");
        if (loaded.Version is { } version)
            evidence.Add($"{sysfs}/version: {version}");

        var (file, confirmed, rejected) = FindFile(module, loaded, sources, evidence);
        if (!loaded.IsLoaded && file is null)
            return null;
        var info = file?.Info;
        var signature = file?.Signature;
        var shownPath = file is null ? null : sources.Shown(file.Path);
        if (signature is not null)
            evidence.Add($"{shownPath}: signed (PKCS#7) by {signature.Signer ?? "(no issuer named)"}, key {signature.Key}, {signature.HashAlgorithm}");
        else if (file is { SignatureAppended: true })
            evidence.Add($"{shownPath}: a signature marker, but no PKCS#7 signature this reads");
        var package = shownPath is null ? null : HostPackages.Owning(shownPath, sources.Root);
        if (package is not null)
            evidence.Add($"{shownPath} belongs to package {package.Name} ({package.Manager})");
        var facts = new ModuleFacts
        {
            Path = shownPath,
            Version = loaded.Version ?? info?["version"],
            Author = info?["author"],
            Description = info?["description"],
            License = info?["license"],
            Vermagic = info?["vermagic"],
            SrcVersion = loaded.SrcVersion ?? info?["srcversion"],
            Signer = signature?.Signer,
            SigKey = signature?.Key,
            SigHashAlgo = signature?.HashAlgorithm,
            Taints = loaded.Taint is { } letters ? ModuleTaints.Spell(letters) : [],
        };
        return new CulpritOwner
        {
            Kind = OwnerKind.KernelModule, Name = module,
            Summary = Summary(module, loaded, file, rejected, facts, package, sources),
            Confidence = file is null || confirmed ? CulpritConfidence.Exact : CulpritConfidence.Inferred,
            Evidence = evidence, Package = package, Module = facts,
        };
    }

    /// <summary>
    /// "a third-party kernel module (edr_agent 7.1.3, signed by …), not part of the kernel: /lib/modules/…/edr_agent.ko,
    /// package edr-agent 7.1.3 (dpkg)"; an in-tree module is part of the kernel.
    /// </summary>
    private static string Summary(string module, LoadedModule loaded, ModuleFile? file, bool rejected, ModuleFacts facts, OwnerPackage? package,
                                  ModuleSources sources)
    {
        var untrusted = loaded.Taint?.Contains('E', StringComparison.Ordinal) == true;
        var signing = facts.Signer is { } signer ? $"signed by {signer}{(untrusted ? ", a key this kernel does not trust" : "")}"
            : untrusted || file is { Info: not null, Signature: null, SignatureAppended: false } ? "unsigned" : null;
        var label = facts.Version is { } version ? $"{module} {version}" : module;
        bool? outOfTree = loaded.Taint is { } taint ? taint.Contains('O', StringComparison.Ordinal)
            : file?.Info is { } info ? info["intree"] != "Y" : null;
        var what = outOfTree switch
        {
            true => $"a third-party kernel module ({label}{(signing is null ? "" : $", {signing}")}), not part of the kernel",
            false => $"kernel module {label}, part of the kernel {sources.Release}",
            null => $"kernel module {label}{(signing is null ? "" : $" ({signing})")}",
        };
        var tree = sources.Shown(sources.ModulesDirectory);
        var where = facts.Path is { } path ? $": {path}" : rejected ? $"; no file under {tree} is the loaded one" : $"; no installed file of it found under {tree}";
        var owning = package is null ? "" : $", package {package.Name}{(package.Version is { } v ? $" {v}" : "")} ({package.Manager})";
        return what + where + owning;
    }

    /// <summary>A module file and what it says of itself; <paramref name="WasRead"/> false when Tracer could not read it (path only).</summary>
    private sealed record ModuleFile(string Path, ModuleInfo? Info, ModuleSignature? Signature, bool SignatureAppended, bool WasRead = true);

    /// <summary>
    /// The installed file of the loaded module: the first candidate whose srcversion is the loaded one's (confirmed),
    /// else the first that could not be compared and does not contradict it (claimed, not confirmed). A file whose
    /// srcversion or version differs is not the loaded module (<c>Rejected</c>): said in the evidence, never claimed.
    /// </summary>
    private static (ModuleFile? File, bool Confirmed, bool Rejected) FindFile(string module, LoadedModule loaded, ModuleSources sources, List<string> evidence)
    {
        ModuleFile? unconfirmed = null;
        var rejected = false;
        foreach (var (path, how) in Candidates(module, sources, evidence))
        {
            var shown = sources.Shown(path);
            var file = Read(path, shown, evidence);
            if (file is { WasRead: true, Info: null })
            {
                rejected = true; // not a kernel module (said when read)
                continue;
            }
            if (file.Info is not { } info || !loaded.IsLoaded)
            {
                evidence.Add($"{shown} ({how}): not confirmed as the loaded module ({(file.Info is null ? "its fields unread" : "it is not loaded")})");
                unconfirmed ??= file;
                continue;
            }
            // sysfs shows srcversion and version exactly when the module's .modinfo has them: both must agree, presence too.
            var differs = Differs("srcversion", loaded.SrcVersion, info["srcversion"]) ?? Differs("version", loaded.Version, info["version"]);
            if (differs is not null)
            {
                evidence.Add($"{shown} ({how}): {differs}: not this file");
                rejected = true;
                continue;
            }
            if (loaded.SrcVersion is { } srcVersion)
            {
                evidence.Add($"{shown} ({how}): srcversion {srcVersion}, the loaded module's");
                return (file, true, rejected);
            }
            evidence.Add($"{shown} ({how}): not confirmed as the loaded module (neither has a srcversion to compare)");
            unconfirmed ??= file;
        }
        return (unconfirmed, false, rejected);
    }

    private static string? Differs(string field, string? loaded, string? file) => loaded == file ? null
        : $"{field} {file ?? "(none)"}, the loaded module's {loaded ?? "(none)"}";

    /// <summary>The module's entry in modules.dep (as depmod wrote it: extra/, updates/, DKMS' paths), then every file of its name in the module tree.</summary>
    private static IEnumerable<(string Path, string How)> Candidates(string module, ModuleSources sources, List<string> evidence)
    {
        var directory = sources.ModulesDirectory;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var dep = Path.Join(directory, "modules.dep");
        if (File.Exists(dep))
            foreach (var line in File.ReadLines(dep))
            {
                var colon = line.IndexOf(':');
                if (colon <= 0 || !NamesModule(line[..colon], module))
                    continue;
                var path = line[..colon].StartsWith('/') ? Path.Join(sources.Root, line[..colon].TrimStart('/')) : Path.Join(directory, line[..colon]);
                if (!File.Exists(path))
                    evidence.Add($"{sources.Shown(path)}: in modules.dep, but not installed");
                else if (seen.Add(path))
                    yield return (path, "modules.dep");
            }
        foreach (var path in FilesUnder(directory).Where(p => NamesModule(p, module)))
            if (seen.Add(path))
                yield return (path, $"found under {sources.Shown(directory)}");
    }

    /// <summary>Whether a file is the module's: NAME.ko, compressed or not; '-' and '_' are the same in module names.</summary>
    internal static bool NamesModule(string path, string module)
    {
        var name = Path.GetFileName(path);
        foreach (var extension in (string[])[".ko", ".ko.xz", ".ko.zst", ".ko.gz"])
            if (name.EndsWith(extension, StringComparison.Ordinal))
                return name[..^extension.Length].Replace('-', '_') == module.Replace('-', '_');
        return false;
    }

    /// <summary>The files of a directory tree, not following symbolic links (build/ and source/ lead into kernel sources).</summary>
    private static IEnumerable<string> FilesUnder(string root)
    {
        var pending = new Stack<string>([root]);
        var options = new EnumerationOptions { IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint };
        while (pending.TryPop(out var directory))
        {
            if (!Directory.Exists(directory))
                continue;
            foreach (var file in Directory.EnumerateFiles(directory, "*", options))
                yield return file;
            foreach (var child in Directory.EnumerateDirectories(directory, "*", options))
                pending.Push(child);
        }
    }

    /// <summary>
    /// The file's fields and signature, read by Tracer: uncompressed and gzip (.NET reads both); xz and zstd through the
    /// node's modinfo tool where it has one, else the path alone.
    /// </summary>
    private static ModuleFile Read(string path, string shown, List<string> evidence)
    {
        byte[] bytes;
        try
        {
            if (path.EndsWith(".ko.xz", StringComparison.Ordinal) || path.EndsWith(".ko.zst", StringComparison.Ordinal))
                return ReadWithModinfo(path, shown, evidence);
            bytes = path.EndsWith(".gz", StringComparison.Ordinal) ? Gunzip(path) : File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            evidence.Add($"{shown}: unreadable ({e.Message})");
            return new ModuleFile(path, null, null, false, WasRead: false);
        }
        var info = ModuleInfo.Read(bytes);
        var signature = ModuleSignature.Read(bytes);
        var appended = ModuleSignature.IsAppended(bytes);
        if (info is null)
            evidence.Add($"{shown}: no .modinfo section: not a kernel module");
        return new ModuleFile(path, info, signature, appended);
    }

    private static byte[] Gunzip(string path)
    {
        using var input = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }

    /// <summary>modinfo's "field: value" lines (continuation lines of a long signature start with white space).</summary>
    private static ModuleFile ReadWithModinfo(string path, string shown, List<string> evidence)
    {
        if (NodeTools.Run("modinfo", path) is not { } output)
        {
            evidence.Add($"{shown}: compressed ({Path.GetExtension(path)}), and no modinfo tool to read it: path only");
            return new ModuleFile(path, null, null, false, WasRead: false);
        }
        var fields = new List<KeyValuePair<string, string>>();
        foreach (var line in output.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon > 0 && !char.IsWhiteSpace(line[0]))
                fields.Add(new(line[..colon], line[(colon + 1)..].Trim()));
        }
        var info = new ModuleInfo(fields);
        var signature = info["signer"] is null && info["sig_key"] is null ? null : new ModuleSignature(info["signer"], info["sig_key"], info["sig_hashalgo"]);
        evidence.Add($"{shown}: fields read by modinfo (compressed {Path.GetExtension(path)})");
        return new ModuleFile(path, info, signature, signature is not null);
    }

    private static string? ReadTrimmed(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>
/// Where a module's facts are read: the running kernel's <c>/sys/module</c>, the node's root filesystem (its module
/// tree and package database: <c>/proc/1/root</c> from Tracer's container, with the DaemonSet's hostPID), and the
/// kernel release whose module tree holds the loaded modules.
/// </summary>
internal sealed record ModuleSources(string SysModule, string Root, string Release)
{
    /// <summary>/lib/modules/RELEASE, or /usr/lib/modules/RELEASE where only that exists.</summary>
    public string ModulesDirectory
    {
        get
        {
            var lib = Path.Join(Root, "lib/modules", Release);
            var usrLib = Path.Join(Root, "usr/lib/modules", Release);
            return !Directory.Exists(lib) && Directory.Exists(usrLib) ? usrLib : lib;
        }
    }

    /// <summary>A path under <see cref="Root"/> as the node sees it.</summary>
    public string Shown(string path) => Root == "/" ? path : "/" + Path.GetRelativePath(Root, path);

    /// <summary>This node's: the host's root through PID 1 where Tracer may look there (it is "/" outside a container).</summary>
    public static ModuleSources Node()
    {
        var root = "/proc/1/root";
        try
        {
            _ = Directory.EnumerateFileSystemEntries(root).Any();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            root = "/";
        }
        return new ModuleSources("/sys/module", root, File.ReadAllText("/proc/sys/kernel/osrelease").Trim());
    }
}
