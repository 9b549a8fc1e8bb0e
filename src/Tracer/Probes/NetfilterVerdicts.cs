using Microsoft.Extensions.Logging;
using Tracer.Native;
using Programs = Tracer.Native.NetfilterVerdictsObject.Programs;

namespace Tracer.Probes;

/// <summary>
/// The exact tier (bpf/netfilter_verdicts.bpf.c): observes the verdict of each foreign netfilter
/// hook function in the hook tables, with fexit where the kernel allows it, else kprobe + kretprobe.
/// A kernel that refuses both (as this project's CI kernel does) is noted once; sentinels remain.
/// fexit needs the function's BTF, which out-of-tree modules rarely carry: kprobes then take over.
/// Every packet through an observed function runs the observer, so functions are observed only while
/// the drops at their hook point are not yet explained.
/// </summary>
internal sealed class NetfilterVerdicts : IProbe
{
    private readonly BpfMap _sharedVerdict;
    private readonly ILogger _logger;
    private readonly Dictionary<ulong, (BpfObject Object, BpfLink[] Links, string Method)> _observed = [];
    private readonly HashSet<ulong> _failed = [];
    // How each function was observed, kept after it is released: evidence of records drained later.
    private readonly Dictionary<ulong, string> _methods = [];

    private NetfilterVerdicts(BpfMap sharedVerdict, ILogger logger)
    {
        _sharedVerdict = sharedVerdict;
        _logger = logger;
    }

    /// <summary>
    /// Nothing is loaded yet: each observed function gets an object of its own (<see cref="ObserveOnly"/>), writing
    /// into the drop probe's <paramref name="sharedVerdict"/>; the kernel's refusal is noted in <see cref="Unavailable"/>.
    /// </summary>
    public static NetfilterVerdicts Load(BpfMap sharedVerdict, ILogger logger) => new(sharedVerdict, logger);

    /// <summary>Why the exact tier is not running, once the kernel refused it; null while it may.</summary>
    public string? Unavailable { get; private set; }

    public int Observed => _observed.Count;

    /// <summary>How the hook function at <paramref name="address"/> is observed: "fexit" or "kprobes"; null if it is not.</summary>
    public string? MethodOf(ulong address) => _methods.GetValueOrDefault(address);

    /// <summary>Observed functions per method, e.g. "fexit on 1, kprobes on 2".</summary>
    public string Methods => string.Join(", ", _observed.Values.GroupBy(o => o.Method).Select(g => $"{g.Key} on {g.Count()}"));

    /// <summary>Observes exactly the given hook functions (address, kallsyms name) from now on: new ones attached, the rest released.</summary>
    public void ObserveOnly(IReadOnlyCollection<(ulong Address, string Name)> functions)
    {
        var wanted = functions.Select(f => f.Address).ToHashSet();
        foreach (var address in _observed.Keys.Where(a => !wanted.Contains(a)).ToList())
        {
            Detach(_observed[address]);
            _observed.Remove(address);
        }
        foreach (var (address, name) in functions)
        {
            if (Unavailable is not null)
                return;
            if (_observed.ContainsKey(address) || _failed.Contains(address))
                continue;
            if ((TryAttach(address, name, fexit: true) ?? TryAttach(address, name, fexit: false)) is { } attached)
                _methods[address] = (_observed[address] = attached).Method;
            else
                _failed.Add(address);
        }
    }

    private static void Detach((BpfObject Object, BpfLink[] Links, string Method) observed)
    {
        foreach (var link in observed.Links)
            link.Dispose();
        observed.Object.Dispose();
    }

    /// <summary>The entry and return probes; the entry's link is released when the return probe is refused.</summary>
    private static BpfLink[] AttachKprobes(BpfObject obj, string function)
    {
        var entry = obj.Program(Programs.hook_entry).AttachKprobe(function, returnProbe: false);
        try
        {
            return [entry, obj.Program(Programs.hook_return).AttachKprobe(function, returnProbe: true)];
        }
        catch
        {
            entry.Dispose();
            throw;
        }
    }

    private (BpfObject, BpfLink[], string)? TryAttach(ulong address, string function, bool fexit)
    {
        try
        {
            var (loaded, links) = EmbeddedObjects.Load(NetfilterVerdictsObject.File, obj =>
            {
                foreach (var program in obj.Programs)
                    program.Autoload = fexit ? program.Name == Programs.hook_exit : program.Name != Programs.hook_exit;
                if (fexit)
                    obj.Program(Programs.hook_exit).SetAttachTarget(function);
                obj.SetReadOnlyData(NetfilterVerdictsObject.Maps.rodata_config, new hook_verdict_config { function = address });
                obj.ShareMap(NetfilterVerdictsObject.Maps.hook_verdict, _sharedVerdict);
            }, obj => (obj, fexit ? [obj.Program(Programs.hook_exit).Attach()] : AttachKprobes(obj, function)));
            _logger.LogInformation("observing the verdicts of {Function} with {Method}", function, fexit ? "fexit" : "kprobes");
            return (loaded, links, fexit ? "fexit" : "kprobes");
        }
        catch (NativeException e)
        {
            if (!fexit && e.Errno is Errno.EPERM or Errno.ENOENT or Errno.EOPNOTSUPP or KernelErrno.ENOTSUPP)
                Unavailable = $"fexit and kprobes refused ({e.Message})";
            return null;
        }
    }

    public void Dispose()
    {
        foreach (var observed in _observed.Values)
            Detach(observed);
        _observed.Clear();
    }
}
