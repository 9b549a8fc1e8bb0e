namespace Tracer.Tests.Infrastructure;

/// <summary>Waiting for the kernel or a process to reach a state: fails the test when it does not in time.</summary>
internal static class Poll
{
    public static void Until(Func<bool> condition, TimeSpan timeout, Func<string> failure)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"not within {timeout.TotalSeconds} s: {failure()}");
            Thread.Sleep(100);
        }
    }
}
