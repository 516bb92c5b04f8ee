using Broker.Abstractions;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Sessions;

/// <summary>When the will is and is not published.</summary>
public sealed class WillTests
{
    private static void WithWill(MqttConnectPacket connect, uint? delay = null, bool retain = false, MqttQos qos = MqttQos.AtMostOnce)
    {
        connect.WillTopic = "will/c1";
        connect.WillPayload = "bye"u8.ToArray();
        connect.WillRetain = retain;
        connect.WillQos = qos;
        if (delay is { } d)
            connect.WillProperties = new MqttProperties { WillDelayInterval = d };
    }

    private static async Task<PipeMqttClient> WatcherAsync(TestBroker broker)
    {
        var watcher = await broker.ConnectAsync("watcher", configure: c => c.KeepAlive = 0);
        await watcher.SubscribeAsync("will/#", MqttQos.AtLeastOnce);
        return watcher;
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task Will_ConnectionLost_Published(MqttProtocolVersion version)
    {
        await using var broker = new TestBroker();
        var watcher = await WatcherAsync(broker);
        var client = await broker.ConnectAsync("c1", version, configure: c => WithWill(c, qos: MqttQos.AtLeastOnce));

        await client.AbortAsync();

        // [MQTT-3.1.2-8]: the will is published when the connection closes without a normal DISCONNECT.
        var will = await watcher.ReceivePublishAsync();
        Assert.Equal("will/c1", will.Topic);
        Assert.Equal("bye"u8.ToArray(), will.Payload.ToArray());
        Assert.Equal(MqttQos.AtLeastOnce, will.Qos);
    }

    [Fact]
    public async Task Will_DisconnectRaisingExpiryFromZero_RefusedWith0x82AndWillPublished()
    {
        await using var broker = new TestBroker();
        var watcher = await WatcherAsync(broker);
        var client = await broker.ConnectAsync("c1", configure: c => WithWill(c));

        await client.SendAsync(new MqttDisconnectPacket { Properties = new MqttProperties { SessionExpiryInterval = 60 } });

        // 3.14.2.2.2: a non-zero Session Expiry Interval on DISCONNECT after 0 at CONNECT is a Protocol Error, and the
        // Server "does not treat it as a valid DISCONNECT packet": DISCONNECT 0x82, and the will is not discarded.
        Assert.Equal(MqttReasonCode.ProtocolError, (await client.ReceiveAsync<MqttDisconnectPacket>()).ReasonCode);
        Assert.Equal("will/c1", (await watcher.ReceivePublishAsync()).Topic);
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311, false)]
    [InlineData(MqttProtocolVersion.V500, false)]
    [InlineData(MqttProtocolVersion.V500, true)]
    public async Task Will_SessionTakenOver_NotPublished(MqttProtocolVersion version, bool cleanStart)
    {
        await using var broker = new TestBroker();
        var watcher = await WatcherAsync(broker);
        await broker.ConnectAsync("c1", version, configure: c => { WithWill(c); c.CleanSession = false; });

        await broker.ConnectAsync("c1", version, configure: c => c.CleanSession = cleanStart);

        // [MQTT-3.1.2-8]: a new Network Connection for the client id opened before any will delay elapsed
        // cancels the will; the old connection's closing is not a failure of the client.
        await watcher.AssertNothingReceivedAsync();
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task Will_NormalDisconnect_NotPublished(MqttProtocolVersion version)
    {
        await using var broker = new TestBroker();
        var watcher = await WatcherAsync(broker);
        var client = await broker.ConnectAsync("c1", version, configure: c => WithWill(c));

        await client.DisconnectAsync();

        // [MQTT-3.14.4-3] (5.0) / [MQTT-3.1.2-10] (3.1.1): a normal DISCONNECT discards the will.
        await watcher.AssertNothingReceivedAsync();
    }

    [Fact]
    public async Task Will_DisconnectWithWillMessage_Published()
    {
        await using var broker = new TestBroker();
        var watcher = await WatcherAsync(broker);
        var client = await broker.ConnectAsync("c1", configure: c => WithWill(c));

        await client.DisconnectAsync(MqttReasonCode.DisconnectWithWillMessage);

        // 3.14.2.1: reason 0x04 asks for the will to be published [MQTT-3.14.4-3 only discards it on 0x00].
        Assert.Equal("will/c1", (await watcher.ReceivePublishAsync()).Topic);
    }

    [Fact]
    public async Task Will_DelayInterval_PublishedOnlyAfterDelay()
    {
        await using var broker = new TestBroker();
        var watcher = await WatcherAsync(broker);
        var client = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300, configure: c => WithWill(c, delay: 5));

        await client.AbortAsync();
        broker.Time.Advance(TimeSpan.FromSeconds(4));
        await watcher.AssertNothingReceivedAsync();

        // 3.1.3.2.2: the will is published once the Will Delay Interval has passed.
        broker.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("will/c1", (await watcher.ReceivePublishAsync()).Topic);
    }

    [Fact]
    public async Task Will_DelayIntervalAndReconnectBeforeIt_NotPublished()
    {
        await using var broker = new TestBroker();
        var watcher = await WatcherAsync(broker);
        var client = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300, configure: c => WithWill(c, delay: 5));
        await client.AbortAsync();
        broker.Time.Advance(TimeSpan.FromSeconds(3));

        var again = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300, configure: c => c.KeepAlive = 0);
        broker.Time.Advance(TimeSpan.FromSeconds(10));

        // [MQTT-3.1.3-9]: a new connection to the session before the delay has passed means no will.
        await watcher.AssertNothingReceivedAsync();
        Assert.True(again.ConnAck!.SessionPresent);
    }

    [Fact]
    public async Task Will_DelayLongerThanSessionExpiry_PublishedWhenSessionEnds()
    {
        await using var broker = new TestBroker();
        var watcher = await WatcherAsync(broker);
        var client = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 3, configure: c => WithWill(c, delay: 60));

        await client.AbortAsync();
        broker.Time.Advance(TimeSpan.FromSeconds(3));

        // 3.1.3.2.2: published when the delay passes or the session ends, whichever happens first.
        Assert.Equal("will/c1", (await watcher.ReceivePublishAsync()).Topic);
        broker.Time.Advance(TimeSpan.FromSeconds(60));
        await watcher.AssertNothingReceivedAsync();
    }

    [Fact]
    public async Task Will_RetainFlag_CarriedToMessagePublishHook()
    {
        await using var broker = new TestBroker();
        var log = HookLog.Attach(broker.Engine);
        var client = await broker.ConnectAsync("c1", configure: c => WithWill(c, retain: true, qos: MqttQos.ExactlyOnce));

        await client.AbortAsync();

        // [MQTT-3.1.2-17] (5.0): Will Retain 1 -> the will is published as a retained message (a retainer sees it here).
        await log.WaitForAsync("message.publish:c1:will/c1:2:True");
    }

    [Fact]
    public async Task Will_TopicDeniedByAuthorization_NotPublished()
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(Abstractions.Hooks.HookPoints.ClientAuthorize, c =>
        {
            if (c.Action == Abstractions.Hooks.AuthorizationAction.Publish && c.Topic.StartsWith("will/", StringComparison.Ordinal))
                c.Result = Abstractions.Hooks.AuthorizationResult.Deny;
            return ValueTask.FromResult(Abstractions.Hooks.HookResult.Continue);
        });
        var watcher = await WatcherAsync(broker);
        var client = await broker.ConnectAsync("c1", configure: c => WithWill(c));

        await client.AbortAsync();

        await watcher.AssertNothingReceivedAsync();
    }
}
