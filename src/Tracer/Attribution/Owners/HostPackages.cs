namespace Tracer.Attribution;

/// <summary>
/// The package that installed a file, from the package database under a root: the host's ("/"), or a process's
/// own (<c>/proc/PID/root</c>, which inside a container is its image's). dpkg's database is read directly (a list of
/// files per package); an RPM database is asked through rpm, where the node has it.
/// </summary>
internal static class HostPackages
{
    /// <summary>The package owning <paramref name="path"/> (as seen from <paramref name="root"/>), null where no package manager knows it.</summary>
    public static Records.OwnerPackage? Owning(string path, string root = "/") => FromDpkg(path, root) ?? FromRpm(path, root);

    private static Records.OwnerPackage? FromDpkg(string path, string root)
    {
        var info = Path.Join(root, "var/lib/dpkg/info");
        if (!Directory.Exists(info))
            return null;
        // Merged /usr: a package lists /sbin/x, the process runs /usr/sbin/x, or the other way round.
        var aliases = new HashSet<string>(StringComparer.Ordinal) { path };
        if (path.StartsWith("/usr/", StringComparison.Ordinal))
            aliases.Add(path[4..]);
        else
            aliases.Add("/usr" + path);
        foreach (var list in Directory.EnumerateFiles(info, "*.list"))
        {
            try
            {
                if (!File.ReadLines(list).Any(aliases.Contains))
                    continue;
            }
            catch (IOException)
            {
                continue;
            }
            var name = Path.GetFileNameWithoutExtension(list).Split(':')[0];
            return new Records.OwnerPackage("dpkg", name, DpkgVersion(root, name));
        }
        return null;
    }

    /// <summary>The installed version from dpkg's status file: the stanza whose Package is <paramref name="name"/>.</summary>
    private static string? DpkgVersion(string root, string name)
    {
        var status = Path.Join(root, "var/lib/dpkg/status");
        if (!File.Exists(status))
            return null;
        var inStanza = false;
        foreach (var line in File.ReadLines(status))
        {
            if (line.Length == 0)
                inStanza = false;
            else if (line.StartsWith("Package: ", StringComparison.Ordinal))
                inStanza = line[9..] == name;
            else if (inStanza && line.StartsWith("Version: ", StringComparison.Ordinal))
                return line[9..];
        }
        return null;
    }

    private static Records.OwnerPackage? FromRpm(string path, string root)
    {
        if (!Directory.Exists(Path.Join(root, "var/lib/rpm")) && !Directory.Exists(Path.Join(root, "usr/lib/sysimage/rpm")))
            return null;
        var answer = NodeTools.Run("rpm", "--root", root, "-qf", "--queryformat", "%{NAME} %{VERSION}-%{RELEASE}", path)?.Trim();
        return answer?.Split(' ') is [var name, var version] ? new Records.OwnerPackage("rpm", name, version) : null;
    }
}
