using Broker.Core.Connections;
using Xunit;
using Broker.Core.Sessions;
using Broker.Core.Tests.TestTransport;

namespace Broker.Core.Tests.Connections;

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

/// <summary>A channel with conn_messages_in: the excess is held (socket not read), then handled, never dropped.</summary>
public sealed class InboundRateLimitChannelTests
{
    private static async Task<PipeMqttClient> ConnectLimitedAsync(TestBroker broker, string clientId)
    {
        var limiter = new InboundRateLimiter(new RateLimit(1, TimeSpan.FromSeconds(10)), null, broker.Time);
        var client = broker.NewClient(limiter: limiter);
        var connack = await client.ConnectAsync(new Broker.Protocol.MqttConnectPacket { ClientId = clientId, CleanSession = true });
        Assert.Equal(Broker.Abstractions.MqttReasonCode.Success, connack.ReasonCode);
        return client;
    }

    [Fact]
    public async Task Publish_BeyondTheLimit_IsHeldUntilTokensReturn_ThenAcknowledged()
    {
        await using var broker = new TestBroker();
        await using var client = await ConnectLimitedAsync(broker, "limited");
        await client.PublishAsync("t", "first", Broker.Abstractions.MqttQos.AtLeastOnce);

        var second = new Broker.Protocol.MqttPublishPacket { Topic = "t", Payload = "second"u8.ToArray(), Qos = Broker.Abstractions.MqttQos.AtLeastOnce, PacketId = client.NextPacketId() };
        await client.SendAsync(second);
        await broker.Time.WaitForTimerAsync(TimeSpan.FromSeconds(10));
        // The read loop is paused on this packet (a PINGREQ would queue behind it), so nothing has come back.
        Assert.Empty(client.Drain());

        broker.Time.Advance(TimeSpan.FromSeconds(10));
        var puback = await client.ReceiveAsync<Broker.Protocol.MqttAckPacket>();
        Assert.Equal(second.PacketId, puback.PacketId);
    }

    [Fact]
    public async Task Close_WhileReadingIsPaused_EndsThePauseAtOnce()
    {
        await using var broker = new TestBroker();
        await using var client = await ConnectLimitedAsync(broker, "paused");
        await client.PublishAsync("t", "first", Broker.Abstractions.MqttQos.AtLeastOnce);
        await client.SendAsync(new Broker.Protocol.MqttPublishPacket { Topic = "t", Payload = "held"u8.ToArray(), Qos = Broker.Abstractions.MqttQos.AtLeastOnce, PacketId = client.NextPacketId() });
        await broker.Time.WaitForTimerAsync(TimeSpan.FromSeconds(10));

        // No clock advance: the close alone must end the pause.
        await client.Channel.CloseAsync(Broker.Abstractions.MqttReasonCode.AdministrativeAction, "kicked").WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        await client.Server.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
    }
}
