using Broker.Abstractions;
using Broker.Core.Overload;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Overload;

/// <summary>
/// Issue 17 item 2: the broker-wide watermark. Above overload_protection.high_watermark new connections are refused
/// and the alarm is raised; at the low watermark it clears and connections are accepted again.
/// </summary>
public sealed class OverloadProtectionTests
{
    private static TestBroker Broker() => new((_, _, _, broker) =>
    {
        broker.OverloadHighWatermark = 8 * 1024;
        broker.OverloadLowWatermark = 4 * 1024;
    });

    /// <summary>An offline persistent session holding <paramref name="messages"/> messages of 1 KB.</summary>
    private static async Task HoldAsync(TestBroker broker, string clientId, int messages)
    {
        var sub = await broker.ConnectAsync(clientId, MqttProtocolVersion.V311, cleanStart: false);
        await sub.SubscribeAsync(clientId + "/t", MqttQos.AtLeastOnce);
        await sub.AbortAsync();
        var pub = await broker.ConnectAsync(clientId + "-pub");
        for (var i = 0; i < messages; i++)
            await pub.PublishAsync(clientId + "/t", new string('x', 1024), MqttQos.AtLeastOnce);
        await pub.DisconnectAsync();
    }

    [Fact]
    public async Task Check_AboveHighWatermark_RefusesConnectsRaisesAlarm_ClearsAtLowWatermark()
    {
        await using var broker = Broker();
        var events = new List<string>();
        broker.Engine.Alarms.Changed += (alarm, active) => events.Add((active ? "activate " : "deactivate ") + alarm.Name);
        await HoldAsync(broker, "a", 3);
        broker.Engine.Overload.Check();
        Assert.False(broker.Engine.Overload.IsActive); // 3 KB

        await HoldAsync(broker, "b", 6);
        broker.Engine.Overload.Check();
        Assert.True(broker.Engine.Overload.IsActive); // 9 KB
        Assert.Equal(OverloadProtection.AlarmName, Assert.Single(broker.Engine.Alarms.Active()).Name);

        // MQTT 5: CONNACK 0x89 Server busy; MQTT 3.1.1 has no such code: the connection is closed unanswered.
        var v5 = broker.NewClient();
        Assert.Equal(MqttReasonCode.ServerBusy, (await v5.ConnectAsync(new MqttConnectPacket { ClientId = "late5" })).ReasonCode);
        var v3 = broker.NewClient(MqttProtocolVersion.V311);
        await v3.SendAsync(new MqttConnectPacket { ClientId = "late3", ProtocolVersion = MqttProtocolVersion.V311, CleanSession = true });
        await v3.WaitClosedAsync();
        Assert.Empty(v3.Drain());
        Assert.Equal(2, broker.Engine.Overload.RefusedConnections);

        // 6 KB left is above the low watermark: still overloaded. Down to 3 KB: cleared.
        await broker.Engine.KickAsync("a");
        broker.Engine.Overload.Check();
        Assert.True(broker.Engine.Overload.IsActive);
        await broker.Engine.KickAsync("b");
        broker.Engine.Overload.Check();
        Assert.False(broker.Engine.Overload.IsActive);
        Assert.Empty(broker.Engine.Alarms.Active());
        Assert.NotNull(Assert.Single(broker.Engine.Alarms.Deactivated()).DeactivatedAt);
        Assert.Equal(["activate high_memory_usage", "deactivate high_memory_usage"], events);
        await broker.ConnectAsync("late5");
    }

    // While overloaded, a publisher feeding one of the largest queues waits for it even though that queue is far from
    // half full; a pair beside it is not held back; the wait ends when the overload clears.
    [Fact]
    public async Task Overloaded_PublisherFeedingTheLargestQueue_WaitsUntilCleared_OthersDoNot()
    {
        await using var broker = new TestBroker((_, session, _, options) =>
        {
            session.MaxInflight = 1;
            session.MaxMqueueBytes = 0;
            session.BackpressureTimeout = TimeSpan.FromSeconds(30);
            options.OverloadHighWatermark = 8 * 1024;
            options.OverloadLowWatermark = 4 * 1024;
        });
        var healthySub = await broker.ConnectAsync("healthy-sub");
        await healthySub.SubscribeAsync("h/t", MqttQos.AtLeastOnce);
        var healthyPub = await broker.ConnectAsync("healthy-pub");
        var big = await broker.ConnectAsync("big");
        await big.SubscribeAsync("big/t", MqttQos.AtLeastOnce);
        big.PauseReading();
        var feeder = await broker.ConnectAsync("feeder");
        var payload = new string('x', 1024);
        for (var i = 0; i < 10; i++)
            await feeder.PublishAsync("big/t", payload, MqttQos.AtLeastOnce);
        Assert.Equal(0, broker.Engine.Metrics.PublisherPauses); // 9 of 1000 queued: not behind

        broker.Engine.Overload.Check();
        Assert.True(broker.Engine.Overload.IsActive);
        await feeder.PublishAsync("big/t", payload, MqttQos.AtLeastOnce); // acknowledged, then the connection waits
        await UntilAsync(() => broker.Engine.Metrics.PublisherPauses == 1, "the publisher's pause counted"); // counted just after the PUBACK went out
        var held = new MqttPublishPacket { Topic = "big/t", Payload = new byte[1024], Qos = MqttQos.AtLeastOnce, PacketId = feeder.NextPacketId() };
        await feeder.SendAsync(held);

        await healthyPub.PublishAsync("h/t", "fine", MqttQos.AtLeastOnce);
        Assert.Equal("fine", System.Text.Encoding.UTF8.GetString((await healthySub.ReceivePublishAsync()).Payload.Span));
        Assert.Equal(1, broker.Engine.Metrics.PublisherPauses);
        Assert.Equal(12, broker.Engine.Metrics.MessagesReceived); // the held PUBLISH has not been read

        broker.Options.OverloadLowWatermark = 64 * 1024;
        broker.Engine.Overload.Check();
        Assert.False(broker.Engine.Overload.IsActive);
        Assert.Equal(held.PacketId, (await feeder.ReceiveAsync<MqttAckPacket>()).PacketId);
    }

    /// <summary>Polls <paramref name="condition"/> until it holds, failing after the test client's timeout.</summary>
    private static async Task UntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + PipeMqttClient.DefaultTimeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Yield();
        }
    }
}
