using Broker.Abstractions;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Sessions;

/// <summary>Persistent sessions: resumption, redelivery, clean start, expiry and takeover.</summary>
public sealed class SessionLifecycleTests
{
    [Fact]
    public async Task Resume_V311PersistentSession_KeepsSubscriptionsAndQueuedMessages()
    {
        await using var broker = new TestBroker();
        var sub = await broker.ConnectAsync("sub", MqttProtocolVersion.V311, cleanStart: false);
        Assert.False(sub.ConnAck!.SessionPresent);
        await sub.SubscribeAsync("t", MqttQos.AtLeastOnce);
        await sub.AbortAsync();
        var pub = await broker.ConnectAsync("pub", MqttProtocolVersion.V311);

        await pub.PublishAsync("t", "while-offline", MqttQos.AtLeastOnce);

        // [MQTT-3.2.2-2]: Session Present 1 for a resumed session; [MQTT-3.1.2-5]: messages queued while offline
        // are part of the session state and are delivered.
        var resumed = await broker.ConnectAsync("sub", MqttProtocolVersion.V311, cleanStart: false);
        Assert.True(resumed.ConnAck!.SessionPresent);
        var queued = await resumed.ReceivePublishAsync();
        Assert.Equal("while-offline"u8.ToArray(), queued.Payload.ToArray());
        await resumed.AckAsync(MqttPacketType.PubAck, queued.PacketId);

        await pub.PublishAsync("t", "after", MqttQos.AtLeastOnce);
        Assert.Equal("after"u8.ToArray(), (await resumed.ReceivePublishAsync()).Payload.ToArray());
    }

    [Fact]
    public async Task Connect_V311CleanSession_SessionPresentZeroAndSessionEndsWithConnection()
    {
        await using var broker = new TestBroker();
        var log = HookLog.Attach(broker.Engine);
        var first = await broker.ConnectAsync("c1", MqttProtocolVersion.V311, cleanStart: false);
        await first.SubscribeAsync("t");
        await first.DisconnectAsync();

        // [MQTT-3.2.2-1]: CleanSession 1 -> Session Present 0 (and the stored session is discarded [MQTT-3.1.2-6]).
        var clean = await broker.ConnectAsync("c1", MqttProtocolVersion.V311, cleanStart: true);
        Assert.False(clean.ConnAck!.SessionPresent);
        Assert.Contains("session.discarded:c1", log.Events);
        await clean.DisconnectAsync();

        Assert.Contains("session.terminated:c1:normal", log.Events);
        Assert.False(broker.Engine.Sessions.TryGet("c1", out _));
    }

    [Fact]
    public async Task Resume_UnackedQos1_ResentWithDupAndSamePacketId()
    {
        await using var broker = new TestBroker();
        var sub = await broker.ConnectAsync("sub", MqttProtocolVersion.V311, cleanStart: false);
        await sub.SubscribeAsync("t", MqttQos.AtLeastOnce);
        var pub = await broker.ConnectAsync("pub", MqttProtocolVersion.V311);
        await pub.PublishAsync("t", "unacked", MqttQos.AtLeastOnce);
        var original = await sub.ReceivePublishAsync();
        Assert.False(original.Dup);
        await sub.AbortAsync();

        var resumed = await broker.ConnectAsync("sub", MqttProtocolVersion.V311, cleanStart: false);

        // [MQTT-4.4.0-1]: on reconnect with CleanSession 0 the server re-sends unacknowledged PUBLISH packets with
        // their original packet identifiers; [MQTT-3.3.1-1]: DUP set on a re-delivery.
        var again = await resumed.ReceivePublishAsync();
        Assert.True(again.Dup);
        Assert.Equal(original.PacketId, again.PacketId);
        Assert.Equal("unacked"u8.ToArray(), again.Payload.ToArray());
        await resumed.AckAsync(MqttPacketType.PubAck, again.PacketId);
        await resumed.AssertNothingReceivedAsync();
        Assert.Equal(0, resumed.Channel.Session!.InflightCount);
    }

    [Fact]
    public async Task Resume_Qos2AfterPubRec_PubRelResent()
    {
        await using var broker = new TestBroker();
        var sub = await broker.ConnectAsync("sub", cleanStart: false, sessionExpiry: 300);
        await sub.SubscribeAsync("t", MqttQos.ExactlyOnce);
        var pub = await broker.ConnectAsync("pub");
        await pub.PublishAsync("t", "q2", MqttQos.ExactlyOnce);
        var publish = await sub.ReceivePublishAsync();
        await sub.AckAsync(MqttPacketType.PubRec, publish.PacketId);
        Assert.Equal(MqttPacketType.PubRel, (await sub.ReceiveAsync<MqttAckPacket>()).Type);
        await sub.AbortAsync();

        var resumed = await broker.ConnectAsync("sub", cleanStart: false, sessionExpiry: 300);

        // [MQTT-4.4.0-1]: PUBREL packets not yet completed are re-sent; the PUBLISH is not.
        var pubrel = await resumed.ReceiveAsync<MqttAckPacket>();
        Assert.Equal(MqttPacketType.PubRel, pubrel.Type);
        Assert.Equal(publish.PacketId, pubrel.PacketId);
        await resumed.AckAsync(MqttPacketType.PubComp, pubrel.PacketId);
        await resumed.AssertNothingReceivedAsync();
        Assert.Equal(0, resumed.Channel.Session!.InflightCount);
    }

    [Fact]
    public async Task Connect_CleanStartWithStoredSession_DiscardedAndSubscriptionsGone()
    {
        await using var broker = new TestBroker();
        var log = HookLog.Attach(broker.Engine);
        var sub = await broker.ConnectAsync("sub", cleanStart: false, sessionExpiry: 300);
        await sub.SubscribeAsync("t");
        await sub.DisconnectAsync();

        var fresh = await broker.ConnectAsync("sub", cleanStart: true, sessionExpiry: 300);

        // [MQTT-3.1.2-4]: Clean Start 1 discards any existing session; [MQTT-3.2.2-2] Session Present 0.
        Assert.False(fresh.ConnAck!.SessionPresent);
        Assert.Equal(["session.discarded:sub", "session.terminated:sub:discarded"],
            log.Events.Where(e => e.StartsWith("session.discarded", StringComparison.Ordinal) || e.StartsWith("session.terminated", StringComparison.Ordinal)));
        var pub = await broker.ConnectAsync("pub");
        await pub.PublishAsync("t", "x", MqttQos.AtLeastOnce);
        await fresh.AssertNothingReceivedAsync();
    }

    [Fact]
    public async Task Expiry_V5SessionExpiryInterval_TerminatedWhenIntervalPasses()
    {
        await using var broker = new TestBroker();
        var log = HookLog.Attach(broker.Engine);
        var client = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 10);
        await client.SubscribeAsync("t");
        await client.AbortAsync();

        broker.Time.Advance(TimeSpan.FromSeconds(9));
        Assert.True(broker.Engine.Sessions.TryGet("c1", out _));
        Assert.DoesNotContain(log.Events, e => e.StartsWith("session.terminated", StringComparison.Ordinal));

        // [MQTT-3.1.2-23]: the session is kept for Session Expiry Interval after the connection closes, then ends.
        broker.Time.Advance(TimeSpan.FromSeconds(1));
        await log.WaitForAsync("session.terminated:c1:expired");
        Assert.False(broker.Engine.Sessions.TryGet("c1", out _));
        Assert.Equal(0, broker.Engine.Router.SubscriptionCount);

        var again = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 10);
        Assert.False(again.ConnAck!.SessionPresent);
    }

    [Fact]
    public async Task Expiry_ReconnectBeforeExpiry_SessionKept()
    {
        await using var broker = new TestBroker();
        var log = HookLog.Attach(broker.Engine);
        var client = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 10);
        await client.AbortAsync();
        broker.Time.Advance(TimeSpan.FromSeconds(5));

        var again = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 10, configure: c => c.KeepAlive = 0);
        broker.Time.Advance(TimeSpan.FromSeconds(30));

        Assert.True(again.ConnAck!.SessionPresent);
        Assert.Contains("session.resumed:c1", log.Events);
        Assert.DoesNotContain(log.Events, e => e.StartsWith("session.terminated", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Expiry_V311PersistentSession_EndsAfterConfiguredExpiryInterval()
    {
        await using var broker = new TestBroker((_, session, _, _) => session.ExpiryInterval = TimeSpan.FromMinutes(1));
        var log = HookLog.Attach(broker.Engine);
        var client = await broker.ConnectAsync("c1", MqttProtocolVersion.V311, cleanStart: false);
        await client.AbortAsync();

        broker.Time.Advance(TimeSpan.FromSeconds(59));
        Assert.True(broker.Engine.Sessions.TryGet("c1", out _));

        // session.expiry_interval bounds how long a 3.1.1 CleanSession 0 session outlives its connection.
        broker.Time.Advance(TimeSpan.FromSeconds(1));
        await log.WaitForAsync("session.terminated:c1:expired");
    }

    [Fact]
    public async Task Disconnect_V5ExpiryRaisedFromZero_ProtocolError()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("c1");

        await client.SendAsync(new MqttDisconnectPacket { Properties = new MqttProperties { SessionExpiryInterval = 60 } });

        // [MQTT-3.14.2-2]: a Session Expiry Interval of 0 at CONNECT cannot be set non-zero on DISCONNECT.
        var disconnect = await client.ReceiveAsync<MqttDisconnectPacket>();
        Assert.Equal(MqttReasonCode.ProtocolError, disconnect.ReasonCode);
        await client.WaitClosedAsync();
        Assert.False(broker.Engine.Sessions.TryGet("c1", out _));
    }

    [Fact]
    public async Task Disconnect_V5ExpiryLoweredToZero_SessionEndsNow()
    {
        await using var broker = new TestBroker();
        var log = HookLog.Attach(broker.Engine);
        var client = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);

        await client.DisconnectAsync(properties: new MqttProperties { SessionExpiryInterval = 0 });

        // 3.14.2.2.2: the DISCONNECT's Session Expiry Interval replaces the one from CONNECT.
        Assert.Contains("session.terminated:c1:normal", log.Events);
    }

    [Fact]
    public async Task Takeover_SameClientId_OldGetsSessionTakenOverNewResumesInflight()
    {
        await using var broker = new TestBroker();
        var log = HookLog.Attach(broker.Engine);
        var first = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);
        await first.SubscribeAsync("t", MqttQos.AtLeastOnce);
        var pub = await broker.ConnectAsync("pub");
        await pub.PublishAsync("t", "inflight", MqttQos.AtLeastOnce);
        var original = await first.ReceivePublishAsync();

        var second = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);

        // [MQTT-3.1.4-3]: the existing connection gets DISCONNECT 0x8E and is closed.
        var disconnect = await first.ReceiveAsync<MqttDisconnectPacket>();
        Assert.Equal(MqttReasonCode.SessionTakenOver, disconnect.ReasonCode);
        await first.WaitClosedAsync();
        Assert.Contains("session.takenover:c1", log.Events);
        Assert.Contains("client.disconnected:c1:takenover:8E", log.Events);
        Assert.DoesNotContain(log.Events, e => e.StartsWith("session.terminated", StringComparison.Ordinal));

        // The new connection continues the session, in-flight message included [MQTT-4.4.0-1].
        Assert.True(second.ConnAck!.SessionPresent);
        var again = await second.ReceivePublishAsync();
        Assert.True(again.Dup);
        Assert.Equal(original.PacketId, again.PacketId);
        await second.AckAsync(MqttPacketType.PubAck, again.PacketId);
        await pub.PublishAsync("t", "next", MqttQos.AtLeastOnce);
        Assert.Equal("next"u8.ToArray(), (await second.ReceivePublishAsync()).Payload.ToArray());
    }

    [Fact]
    public async Task Takeover_V311_OldClosedWithoutDisconnect()
    {
        await using var broker = new TestBroker();
        var first = await broker.ConnectAsync("c1", MqttProtocolVersion.V311, cleanStart: false);

        var second = await broker.ConnectAsync("c1", MqttProtocolVersion.V311, cleanStart: false);

        // [MQTT-3.1.4-2] (3.1.1): the server disconnects the existing client.
        await first.WaitClosedAsync();
        Assert.Empty(first.Drain());
        Assert.True(second.ConnAck!.SessionPresent);
        Assert.Same(second.Channel, broker.Engine.Sessions.TryGet("c1", out var session) ? session.Channel : null);
    }
}
