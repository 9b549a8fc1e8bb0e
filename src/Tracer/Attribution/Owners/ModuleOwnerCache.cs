using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>
/// Module owners kept per module name: finding one reads the module tree and a whole file (and maybe the package
/// database), and modules rarely change. Each look reads the module's srcversion, version and taint from sysfs (three
/// small files) and finds the owner afresh when they changed — the module was reloaded from another build — or when
/// <paramref name="lifetime"/> has passed (a package installed or removed since).
/// </summary>
internal sealed class ModuleOwnerCache(Func<ModuleSources> sources, TimeSpan lifetime)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (ModuleOwners.LoadedModule Loaded, DateTimeOffset FoundAt, CulpritOwner? Owner)> _owners = [];
    private ModuleSources? _sources;

    public ModuleOwnerCache(Func<ModuleSources> sources) : this(sources, TimeSpan.FromMinutes(10))
    {
    }

    public Func<DateTimeOffset> Now { get; init; } = () => DateTimeOffset.UtcNow;

    public CulpritOwner? Of(string module)
    {
        lock (_lock)
        {
            var where = _sources ??= sources();
            var loaded = ModuleOwners.LoadedModule.Read(module, where);
            if (_owners.TryGetValue(module, out var kept) && kept.Loaded == loaded && Now() - kept.FoundAt < lifetime)
                return kept.Owner;
            var owner = ModuleOwners.Find(module, where);
            _owners[module] = (loaded, Now(), owner);
            return owner;
        }
    }
}
