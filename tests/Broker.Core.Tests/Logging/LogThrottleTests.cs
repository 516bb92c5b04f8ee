using Broker.Core.Logging;
using Broker.Core.Tests.TestTransport;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Broker.Core.Tests.Logging;

public sealed class LogThrottleTests
{
    private sealed class ListLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
                Lines.Add(formatter(state, exception));
        }
    }

    private static int Allowed(LogThrottle throttle, int times, string? clientId = "c", string? topic = null)
    {
        var allowed = 0;
        for (var i = 0; i < times; i++)
        {
            if (throttle.ShouldLog(14, "LogPublishDenied", clientId, topic))
                allowed++;
        }
        return allowed;
    }

    [Fact]
    public void ShouldLog_BurstThenSuppressed_OneSummaryAtTheEndOfTheWindow()
    {
        var time = new FakeTimeProvider();
        var logger = new ListLogger();
        using var throttle = new LogThrottle(TimeSpan.FromSeconds(10), 5, time, logger);

        Assert.Equal(5, Allowed(throttle, 1000));
        Assert.True(throttle.ShouldLog(15, "LogSubscribeRefused", "c")); // each event has its own burst
        Assert.Empty(logger.Lines);

        time.Advance(TimeSpan.FromSeconds(10));

        var summary = Assert.Single(logger.Lines);
        Assert.StartsWith("995 more LogPublishDenied events suppressed in the last 10 s", summary, StringComparison.Ordinal);
        Assert.Equal(5, Allowed(throttle, 1000)); // a new window
        time.Advance(TimeSpan.FromSeconds(10));
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(2, logger.Lines.Count); // nothing suppressed in the third window: no line
    }

    [Fact]
    public void ShouldLog_TracedClientOrTopic_AlwaysWritten()
    {
        var time = new FakeTimeProvider();
        using var throttle = new LogThrottle(TimeSpan.FromSeconds(10), 1, time, new ListLogger());
        throttle.StartTrace(TraceKind.Client, "noisy");
        throttle.StartTrace(TraceKind.Topic, "sensors/+/temp");

        Assert.Equal(100, Allowed(throttle, 100, "noisy"));
        Assert.Equal(100, Allowed(throttle, 100, "other", "sensors/1/temp"));
        Assert.Equal(100, Allowed(throttle, 100, "other", "sensors/+/temp")); // the filter itself, e.g. a refused SUBSCRIBE
        Assert.Equal(1, Allowed(throttle, 100, "other", "sensors/1/humidity"));
        Assert.True(throttle.StopTrace(TraceKind.Client, "noisy"));
        Assert.False(throttle.StopTrace(TraceKind.Client, "noisy"));
        Assert.Equal(0, Allowed(throttle, 100, "noisy"));
        Assert.Throws<ArgumentException>(() => throttle.StartTrace(TraceKind.Topic, "a/#/b"));
    }

    [Fact]
    public void ShouldLog_WindowZero_EveryEventWritten()
    {
        using var throttle = new LogThrottle(TimeSpan.Zero, 1, new FakeTimeProvider(), new ListLogger());

        Assert.Equal(1000, Allowed(throttle, 1000));
    }
}
