using Xunit;
using Broker.Core.Sessions;
using Broker.Core.Tests.TestTransport;

namespace Broker.Core.Tests.Sessions;

/// <summary>The token buckets behind rate_limit.conn_messages_in / conn_bytes_in, on a fake clock.</summary>
public sealed class InboundRateLimiterTests
{
    [Fact]
    public void Charge_MessagesWithinTheBurst_NoWait_ThenOneTokenPeriodEach()
    {
        var time = new FakeTimeProvider();
        var limiter = new InboundRateLimiter(new RateLimit(10, TimeSpan.FromSeconds(1)), null, time);
        for (var i = 0; i < 10; i++)
            Assert.Equal(TimeSpan.Zero, limiter.Charge(isPublish: true, 20));

        Assert.Equal(TimeSpan.FromMilliseconds(100), limiter.Charge(isPublish: true, 20));
        Assert.Equal(TimeSpan.FromMilliseconds(200), limiter.Charge(isPublish: true, 20));

        // Paying the debt back: after the waits the bucket is level again, and refills no further than its capacity.
        time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal(TimeSpan.FromMilliseconds(100), limiter.Charge(isPublish: true, 20));
        time.Advance(TimeSpan.FromMinutes(1));
        for (var i = 0; i < 10; i++)
            Assert.Equal(TimeSpan.Zero, limiter.Charge(isPublish: true, 20));
        Assert.True(limiter.Charge(isPublish: true, 20) > TimeSpan.Zero);
    }

    [Fact]
    public void Charge_NonPublishPackets_AreNotMessages()
    {
        var limiter = new InboundRateLimiter(new RateLimit(1, TimeSpan.FromSeconds(1)), null, new FakeTimeProvider());
        for (var i = 0; i < 100; i++)
            Assert.Equal(TimeSpan.Zero, limiter.Charge(isPublish: false, 2));
    }

    [Fact]
    public void Charge_Bytes_WaitForTheLargerDebt()
    {
        var limiter = new InboundRateLimiter(new RateLimit(100, TimeSpan.FromSeconds(1)), new RateLimit(1000, TimeSpan.FromSeconds(1)), new FakeTimeProvider());
        Assert.Equal(TimeSpan.Zero, limiter.Charge(isPublish: true, 1000));
        Assert.Equal(TimeSpan.FromSeconds(0.5), limiter.Charge(isPublish: true, 500));
    }
}
