using System.Globalization;

namespace Tracer.Attribution;

/// <summary>A network namespace's NFQUEUE bindings and netlink sockets, as its /proc/net shows them.</summary>
internal sealed record NamespaceQueueFiles(string Queues, string Netlink);

/// <summary>
/// Who listens on an NFQUEUE: the queue's peer port id (/proc/net/netfilter/nfnetlink_queue), the netlink socket with
/// that port id (/proc/net/netlink: NETLINK_NETFILTER's, its inode) and the processes whose descriptors are that socket
/// (/proc/PID/fd → socket:[INODE]). Both files are per network namespace; the descriptor walk costs a readlink per
/// descriptor of every process: callers cache it by inode.
/// </summary>
internal static class NfQueueListeners
{
    /// <summary>
    /// Queue number → listener's port id, from nfnetlink_queue's lines: queue number, peer port id, queue total, copy
    /// mode, copy range, queue dropped, user dropped, id sequence, 1. A line of another shape is not a queue.
    /// </summary>
    public static IReadOnlyDictionary<ushort, uint> Parse(string queues)
    {
        var bound = new Dictionary<ushort, uint>();
        foreach (var line in queues.Split('\n'))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 9 && fields.All(f => f.All(char.IsAsciiDigit) || f == "-1") &&
                ushort.TryParse(fields[0], CultureInfo.InvariantCulture, out var queue) &&
                uint.TryParse(fields[1], CultureInfo.InvariantCulture, out var portId))
                bound[queue] = portId;
        }
        return bound;
    }

    /// <summary>
    /// The inode of the netlink socket of <paramref name="protocol"/> bound to <paramref name="portId"/>, from
    /// /proc/net/netlink's rows (sk, Eth = protocol, Pid = port id, Groups, Rmem, Wmem, Dump, Locks, Drops, Inode);
    /// null when there is none (the header and rows of another shape are not sockets).
    /// </summary>
    public static ulong? SocketInode(string netlink, int protocol, uint portId)
    {
        foreach (var line in netlink.Split('\n'))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 10 &&
                int.TryParse(fields[1], CultureInfo.InvariantCulture, out var eth) && eth == protocol &&
                uint.TryParse(fields[2], CultureInfo.InvariantCulture, out var pid) && pid == portId &&
                ulong.TryParse(fields[9], CultureInfo.InvariantCulture, out var inode))
                return inode;
        }
        return null;
    }

    /// <summary>The processes with a descriptor on socket <paramref name="inode"/>.</summary>
    public static IReadOnlyList<int> SocketHolders(ulong inode) => SocketHolders(inode, "/proc");

    internal static IReadOnlyList<int> SocketHolders(ulong inode, string proc)
    {
        var target = $"socket:[{inode}]";
        var holders = new List<int>();
        foreach (var process in Directory.EnumerateDirectories(proc))
        {
            if (!int.TryParse(Path.GetFileName(process), CultureInfo.InvariantCulture, out var pid))
                continue;
            try
            {
                if (Directory.EnumerateFileSystemEntries(Path.Join(process, "fd")).Any(fd => new FileInfo(fd).LinkTarget == target))
                    holders.Add(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // gone meanwhile, or not ours to read
            }
        }
        return holders;
    }
}
