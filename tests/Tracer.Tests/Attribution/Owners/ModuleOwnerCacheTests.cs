using Tracer.Attribution;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>A module's owner is found once and kept, until the loaded module changes or its time is up (node tree as in <see cref="ModuleOwnersTests"/>).</summary>
[UnitTest]
public sealed class ModuleOwnerCacheTests : IDisposable
{
    private readonly ModuleOwnersTests _node = new();

    public void Dispose() => _node.Dispose();

    [Fact]
    public void TheOwnerIsKeptUntilTheLoadedModulesSrcversionChanges()
    {
        var module = InstalledAndLoaded();
        var cache = new ModuleOwnerCache(() => _node.Sources);

        var first = cache.Of("edr_agent");
        File.Delete(module); // were the tree read again, the file would be gone
        Assert.Same(first, cache.Of("edr_agent"));
        Assert.NotNull(first!.Module!.Path);

        _node.Loaded("edr_agent", "0123456789ABCDEF0123456", "7.1.3", "OE"); // reloaded from another build
        var second = cache.Of("edr_agent");
        Assert.Null(second!.Module!.Path);
        Assert.Equal("0123456789ABCDEF0123456", second.Module.SrcVersion);
    }

    [Fact]
    public void TheOwnerIsFoundAfreshOnceItsTimeIsUp()
    {
        var module = InstalledAndLoaded();
        var now = DateTimeOffset.UnixEpoch;
        var cache = new ModuleOwnerCache(() => _node.Sources, TimeSpan.FromMinutes(10)) { Now = () => now };

        var first = cache.Of("edr_agent");
        File.Delete(module);
        now += TimeSpan.FromMinutes(9);
        Assert.Same(first, cache.Of("edr_agent"));
        now += TimeSpan.FromMinutes(2);
        Assert.Null(cache.Of("edr_agent")!.Module!.Path);
    }

    private string InstalledAndLoaded()
    {
        var module = _node.Install("extra/edr_agent.ko", ModuleOwnersTests.EdrFields(ModuleOwnersTests.SrcVersion));
        _node.DependsLine("extra/edr_agent.ko:");
        _node.Loaded("edr_agent", ModuleOwnersTests.SrcVersion, "7.1.3", "OE");
        return module;
    }
}
