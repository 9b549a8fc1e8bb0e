using Tracer.Native;
using Tracer.Probes;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Probes;

/// <summary><see cref="Probe.TryLoad"/>: a refusal becomes its reason, and nothing half-made stays behind.</summary>
[UnitTest]
public sealed class ProbeTests
{
    private sealed class FakeProbe : IProbe
    {
        public int Disposals { get; private set; }

        public void Dispose() => Disposals++;
    }

    private static NativeException Refusal() => new("loading BPF object fake", Errno.EPERM, "Operation not permitted", []);

    [Fact]
    public void ALoadedProbeIsAttachedAndKept()
    {
        var probe = new FakeProbe();
        var attached = false;

        var loaded = Probe.TryLoad(() => probe, _ => attached = true);

        Assert.Same(probe, loaded.Probe);
        Assert.Null(loaded.Refusal);
        Assert.True(attached);
        Assert.Equal(0, probe.Disposals);
    }

    [Fact]
    public void ARefusalAtLoadingBecomesItsReason()
    {
        var loaded = Probe.TryLoad<FakeProbe>(() => throw Refusal());

        Assert.Null(loaded.Probe);
        Assert.Equal("loading BPF object fake failed: Operation not permitted (errno 1)", loaded.Refusal);
    }

    [Fact]
    public void AMissingLibraryIsARefusal()
    {
        var loaded = Probe.TryLoad<FakeProbe>(() => throw new DllNotFoundException("libnftables.so.1"));

        Assert.Null(loaded.Probe);
        Assert.Equal("libnftables.so.1", loaded.Refusal);
    }

    [Fact]
    public void AProbeRefusedAtAttachingIsDisposed()
    {
        var probe = new FakeProbe();

        var loaded = Probe.TryLoad(() => probe, _ => throw Refusal());

        Assert.Null(loaded.Probe);
        Assert.NotNull(loaded.Refusal);
        Assert.Equal(1, probe.Disposals);
    }

    [Fact]
    public void AnythingButARefusalIsThrownAfterDisposingTheProbe()
    {
        var probe = new FakeProbe();

        Assert.Throws<InvalidOperationException>(() => Probe.TryLoad(() => probe, _ => throw new InvalidOperationException("a bug")));
        Assert.Throws<InvalidOperationException>(() => Probe.TryLoad<FakeProbe>(() => throw new InvalidOperationException("a bug")));
        Assert.Equal(1, probe.Disposals);
    }
}
