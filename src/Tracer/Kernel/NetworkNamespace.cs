using System.Runtime.ExceptionServices;
using Tracer.Native;

namespace Tracer.Kernel;

/// <summary>
/// Runs code inside a network namespace. setns/unshare change only the calling thread, so the
/// code runs on a thread of its own that ends with it, and the caller's namespace is never touched.
/// </summary>
internal static class NetworkNamespace
{
    /// <summary>Runs <paramref name="action"/> in the namespace at <paramref name="path"/> (e.g. /run/netns/NAME).</summary>
    public static T RunIn<T>(string path, Func<T> action) => RunOnOwnThread(() =>
    {
        using var fd = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        Proxy.setns(fd, Libc.CLONE_NEWNET);
        return action();
    });

    /// <summary>
    /// Runs <paramref name="action"/> in a new, empty network namespace that the kernel frees as
    /// soon as the thread ends and nothing else holds it: whatever is attached there goes with it.
    /// </summary>
    public static T RunInPrivate<T>(Func<T> action) => RunOnOwnThread(() =>
    {
        Proxy.unshare(Libc.CLONE_NEWNET);
        return action();
    });

    /// <summary>
    /// A path into every network namespace in sight: one process living in each (a pod's pause process),
    /// then the names under /run/netns.
    /// </summary>
    public static IEnumerable<string> All()
    {
        var seen = new HashSet<string>();
        foreach (var process in Directory.EnumerateDirectories("/proc").Where(d => char.IsDigit(Path.GetFileName(d)[0])))
        {
            var path = Path.Combine(process, "ns", "net");
            if (LinkOf(path) is { } link && seen.Add(link))
                yield return path;
        }
        if (Directory.Exists("/run/netns"))
            foreach (var named in Directory.EnumerateFiles("/run/netns"))
                yield return named;
    }

    /// <summary>A path that enters the namespace with inode <paramref name="inode"/> (see <see cref="All"/>); null if none does.</summary>
    public static string? FindPath(uint inode) => All().FirstOrDefault(path => path.StartsWith("/proc/", StringComparison.Ordinal)
        ? LinkOf(path) == $"net:[{inode}]" // a process's link names its namespace without entering it
        : Holds(path, () => CurrentInode() == inode));

    /// <summary>
    /// Whether <paramref name="test"/> holds inside the namespace at <paramref name="path"/>; false when it cannot be
    /// entered (the process exited, or is not ours to look at).
    /// </summary>
    public static bool Holds(string path, Func<bool> test)
    {
        try
        {
            return RunIn(path, test);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NativeException)
        {
            return false;
        }
    }

    private static string? LinkOf(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget; // "net:[4026531840]"
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // exited meanwhile, or not ours to look at
        }
    }

    private static T RunOnOwnThread<T>(Func<T> action)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = action();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        }) { IsBackground = true, Name = "netns" };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }

    /// <summary>
    /// The inode of the calling thread's network namespace, as BPF programs see it in <c>net->ns.inum</c>.
    /// (thread-self, not self: inside <see cref="RunIn{T}"/> only this thread has moved.)
    /// </summary>
    public static uint CurrentInode(string path = "/proc/thread-self/ns/net")
    {
        // readlink gives "net:[4026531840]".
        var target = new FileInfo(path).LinkTarget ?? throw new IOException($"{path} is not a namespace link");
        return uint.Parse(target.AsSpan("net:[".Length, target.Length - "net:[".Length - 1), provider: System.Globalization.CultureInfo.InvariantCulture);
    }
}
