using Broker.Abstractions;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Sessions;

/// <summary>The mqtt.* limits and capabilities as a connected client meets them.</summary>
public sealed class LimitsTests
{
    // mqtt.max_subscriptions (EMQX's max_subscriptions): a new filter beyond the cap gets SUBACK 0x97 Quota exceeded
    // (5.0 §3.9.3) / 0x80 Failure (3.1.1 §3.9.3); replacing an existing subscription is not a new one, and an
    // unsubscribe makes room.
    [Theory]
    [InlineData(MqttProtocolVersion.V500, MqttReasonCode.QuotaExceeded)]
    [InlineData(MqttProtocolVersion.V311, MqttReasonCode.UnspecifiedError)] // written as 0x80
    public async Task Subscribe_BeyondMaxSubscriptions_QuotaExceeded(MqttProtocolVersion version, MqttReasonCode refused)
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.MaxSubscriptions = 2);
        var client = await broker.ConnectAsync("c1", version);

        Assert.Equal([MqttReasonCode.GrantedQos1], (await client.SubscribeAsync("a/#")).ReasonCodes);
        Assert.Equal([MqttReasonCode.GrantedQos1], (await client.SubscribeAsync("b/+")).ReasonCodes);
        Assert.Equal([refused], (await client.SubscribeAsync("c")).ReasonCodes);
        Assert.Equal([MqttReasonCode.GrantedQos0], (await client.SubscribeAsync("a/#", MqttQos.AtMostOnce)).ReasonCodes);
        await client.SendAsync(new MqttUnsubscribePacket { PacketId = client.NextPacketId(), TopicFilters = ["b/+"] });
        await client.ReceiveAsync<MqttUnsubAckPacket>();
        Assert.Equal([MqttReasonCode.GrantedQos1], (await client.SubscribeAsync("c")).ReasonCodes);
        Assert.Equal(2, broker.Engine.Router.SubscriptionCount);
    }

    [Fact]
    public async Task Connect_ClientIdLongerThanMaximum_ClientIdentifierNotValid()
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.MaxClientIdLength = 23);

        await broker.ConnectAsync(new string('c', 24), expect: MqttReasonCode.ClientIdentifierNotValid);
    }

    [Fact]
    public async Task Connect_AuthenticationMethod_BadAuthenticationMethod()
    {
        await using var broker = new TestBroker();

        // [MQTT-4.12.0-1]: an unsupported Authentication Method -> CONNACK 0x8C.
        await broker.ConnectAsync("c1", configure: c => c.Properties = new MqttProperties { AuthenticationMethod = "SCRAM-SHA-1" },
            expect: MqttReasonCode.BadAuthenticationMethod);
    }

    [Fact]
    public async Task Connect_WillQosAboveMaximum_QosNotSupported()
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.MaxQosAllowed = 1);

        // [MQTT-3.2.2-12]: a will QoS above Maximum QoS -> CONNACK 0x9B.
        await broker.ConnectAsync("c1", configure: c =>
        {
            c.WillTopic = "w";
            c.WillQos = MqttQos.ExactlyOnce;
        }, expect: MqttReasonCode.QosNotSupported);
    }

    [Fact]
    public async Task Connect_SessionExpiryAboveCap_CappedAndAnnounced()
    {
        await using var broker = new TestBroker((_, session, _, _) => session.MaxExpiryInterval = TimeSpan.FromMinutes(1));

        var client = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 3600);

        // 3.2.2.3.2: a server that uses a different Session Expiry Interval says so in CONNACK.
        Assert.Equal(60u, client.ConnAck!.Properties!.SessionExpiryInterval);
        Assert.Equal(60u, client.Channel.Session!.ExpiryInterval);
    }

    [Fact]
    public async Task Disconnect_SessionExpiryAboveCap_Capped()
    {
        await using var broker = new TestBroker((_, session, _, _) => session.MaxExpiryInterval = TimeSpan.FromMinutes(1));
        var log = HookLog.Attach(broker.Engine);
        var client = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 30);

        await client.DisconnectAsync(properties: new MqttProperties { SessionExpiryInterval = 86400 });

        // session.max_expiry_interval bounds the lifetime whichever packet asks for it (3.14.2.2.2 lets DISCONNECT
        // change it, not exceed what the server allows).
        broker.Time.Advance(TimeSpan.FromMinutes(1));
        await log.WaitForAsync("session.terminated:c1:expired");
    }

    [Fact]
    public async Task Connect_ServerKeepAlive_AnnouncedAndEnforced()
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.ServerKeepAlive = 20);

        var client = await broker.ConnectAsync("c1", configure: c => c.KeepAlive = 600);

        // [MQTT-3.2.2-21]: the client must use the Server Keep Alive; the server enforces 1.5 times it.
        Assert.Equal((ushort)20, client.ConnAck!.Properties!.ServerKeepAlive);
        broker.Time.Advance(TimeSpan.FromSeconds(29));
        Assert.False(client.IsClosed);
        broker.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(MqttReasonCode.KeepAliveTimeout, (await client.ReceiveAsync<MqttDisconnectPacket>()).ReasonCode);
    }

    // mosquitto.conf(5) max_keepalive: an MQTT 5 client asking for 0 or more than the maximum is sent the maximum as
    // Server Keep Alive [MQTT-3.2.2-21] and the server enforces 1.5 times it.
    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    [InlineData(600)]
    public async Task Connect_V5KeepAliveZeroOrAboveMaxKeepAlive_ToldMaximumAndHeldToIt(int keepAlive)
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.MaxKeepAlive = 30);

        var client = await broker.ConnectAsync("c1", configure: c => c.KeepAlive = (ushort)keepAlive);

        Assert.Equal((ushort)30, client.ConnAck!.Properties!.ServerKeepAlive);
        broker.Time.Advance(TimeSpan.FromSeconds(44));
        Assert.False(client.IsClosed);
        broker.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(MqttReasonCode.KeepAliveTimeout, (await client.ReceiveAsync<MqttDisconnectPacket>()).ReasonCode);
    }

    // [MQTT-3.2.2-22]: without Server Keep Alive in CONNACK the server uses the client's value, which max_keepalive
    // leaves alone when it is at most the maximum.
    [Theory]
    [InlineData(30)]
    [InlineData(10)]
    public async Task Connect_V5KeepAliveAtOrBelowMaxKeepAlive_KeepsItsOwn(int keepAlive)
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.MaxKeepAlive = 30);

        var client = await broker.ConnectAsync("c1", configure: c => c.KeepAlive = (ushort)keepAlive);

        Assert.Null(client.ConnAck!.Properties!.ServerKeepAlive);
        broker.Time.Advance(TimeSpan.FromSeconds(keepAlive * 1.5 - 1));
        Assert.False(client.IsClosed);
        broker.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(MqttReasonCode.KeepAliveTimeout, (await client.ReceiveAsync<MqttDisconnectPacket>()).ReasonCode);
    }

    // mosquitto 2.0.12 ChangeLog, "Fix max_keepalive not applying to MQTT v3.1.1 and v3.1 connections": such a client
    // with a keep-alive of 0 or above max_keepalive gets CONNACK "identifier rejected" (0x02) and is disconnected.
    [Theory]
    [InlineData(MqttProtocolVersion.V311, 0)]
    [InlineData(MqttProtocolVersion.V311, 31)]
    [InlineData(MqttProtocolVersion.V310, 600)]
    public async Task Connect_V3KeepAliveZeroOrAboveMaxKeepAlive_RefusedIdentifierRejected(MqttProtocolVersion version, int keepAlive)
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.MaxKeepAlive = 30);
        var client = broker.NewClient(version);

        var connack = await client.ConnectAsync(new MqttConnectPacket { ClientId = "c1", KeepAlive = (ushort)keepAlive });

        Assert.Equal(MqttReasonCode.ClientIdentifierNotValid, connack.ReasonCode);
        await client.WaitClosedAsync();
    }

    [Fact]
    public async Task Connect_V311KeepAliveAtMaxKeepAlive_Accepted()
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.MaxKeepAlive = 30);

        await broker.ConnectAsync("c1", MqttProtocolVersion.V311, configure: c => c.KeepAlive = 30);
    }

    // mqtt.server_keepalive (EMQX) decides for MQTT 5 clients even below the ceiling; max_keepalive still refuses 3.x.
    [Fact]
    public async Task Connect_ServerKeepAliveAndMaxKeepAlive_ServerKeepAliveToldToV5()
    {
        await using var broker = new TestBroker((mqtt, _, _, _) =>
        {
            mqtt.ServerKeepAlive = 20;
            mqtt.MaxKeepAlive = 30;
        });

        var v5 = await broker.ConnectAsync("c1", configure: c => c.KeepAlive = 10);
        Assert.Equal((ushort)20, v5.ConnAck!.Properties!.ServerKeepAlive);
        await broker.ConnectAsync("c2", MqttProtocolVersion.V311, configure: c => c.KeepAlive = 60, expect: MqttReasonCode.ClientIdentifierNotValid);
    }

    [Fact]
    public void Validate_ServerKeepAliveAboveMaxKeepAlive_NamesServerKeepAlive()
    {
        var options = new Broker.Core.Configuration.MqttOptions { ServerKeepAlive = 60, MaxKeepAlive = 30 };

        Assert.Equal("mqtt.server_keepalive", Assert.Single(options.Validate()).Key);
        Assert.Empty(new Broker.Core.Configuration.MqttOptions { ServerKeepAlive = 30, MaxKeepAlive = 30 }.Validate());
    }

    [Fact]
    public async Task Publish_QosAboveMaximum_DisconnectQosNotSupported()
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.MaxQosAllowed = 1);
        var client = await broker.ConnectAsync("c1");
        Assert.Equal((byte)1, client.ConnAck!.Properties!.MaximumQos);

        await client.SendAsync(new MqttPublishPacket { Topic = "t", Qos = MqttQos.ExactlyOnce, PacketId = 1 });

        // [MQTT-3.2.2-11]: a PUBLISH above Maximum QoS -> DISCONNECT 0x9B.
        Assert.Equal(MqttReasonCode.QosNotSupported, (await client.ReceiveAsync<MqttDisconnectPacket>()).ReasonCode);
        await client.WaitClosedAsync();
    }

    [Fact]
    public async Task Publish_RetainWhenUnavailable_DisconnectRetainNotSupported()
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.RetainAvailable = false);
        var client = await broker.ConnectAsync("c1");
        Assert.Equal((byte)0, client.ConnAck!.Properties!.RetainAvailable);

        await client.SendAsync(new MqttPublishPacket { Topic = "t", Retain = true });

        // [MQTT-3.2.2-14]: RETAIN 1 when Retain Available is 0 -> DISCONNECT 0x9A.
        Assert.Equal(MqttReasonCode.RetainNotSupported, (await client.ReceiveAsync<MqttDisconnectPacket>()).ReasonCode);
    }

    [Fact]
    public async Task Publish_TooManyTopicLevels_DisconnectTopicNameInvalid()
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.MaxTopicLevels = 3);
        var client = await broker.ConnectAsync("c1");

        await client.PublishAsync("a/b/c");
        await client.SendAsync(new MqttPublishPacket { Topic = "a/b/c/d" });

        Assert.Equal(MqttReasonCode.TopicNameInvalid, (await client.ReceiveAsync<MqttDisconnectPacket>()).ReasonCode);
    }

    [Fact]
    public async Task Publish_LargerThanMaxPacketSize_DisconnectPacketTooLarge()
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.MaxPacketSize = 256);
        var client = await broker.ConnectAsync("c1");

        await client.SendAsync(new MqttPublishPacket { Topic = "t", Payload = new byte[300] });

        // [MQTT-3.2.2-15] is the client's side; the server's own limit closes the connection with 0x95 (4.13).
        Assert.Equal(MqttReasonCode.PacketTooLarge, (await client.ReceiveAsync<MqttDisconnectPacket>()).ReasonCode);
        await client.WaitClosedAsync();
    }

    [Fact]
    public async Task PubRec_FailureReasonFromSubscriber_NoPubRelAndWindowFreed()
    {
        await using var broker = new TestBroker((_, session, _, _) => session.MaxInflight = 1);
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t", MqttQos.ExactlyOnce);
        var pub = await broker.ConnectAsync("pub");
        await pub.PublishAsync("t", "1", MqttQos.ExactlyOnce);
        await pub.PublishAsync("t", "2", MqttQos.ExactlyOnce);
        var first = await sub.ReceivePublishAsync();

        await sub.SendAsync(new MqttAckPacket(MqttPacketType.PubRec) { PacketId = first.PacketId, ReasonCode = MqttReasonCode.UnspecifiedError });

        // [MQTT-4.3.3-4] (5.0): a PUBREC of 0x80 or above ends the exchange: no PUBREL; the slot is free.
        var next = await sub.ReceivePublishAsync();
        Assert.Equal("2"u8.ToArray(), next.Payload.ToArray());
        await sub.AssertNothingReceivedAsync();
    }

    [Fact]
    public async Task Shutdown_ConnectedV5Client_DisconnectServerShuttingDown()
    {
        await using var broker = new TestBroker();
        var v5 = await broker.ConnectAsync("v5");
        var v311 = await broker.ConnectAsync("v311", MqttProtocolVersion.V311);

        await broker.Engine.ShutdownAsync(TimeSpan.FromSeconds(5));

        // 4.13 / DISCONNECT 0x8B Server shutting down for MQTT 5; 3.1.1 connections are just closed.
        Assert.Equal(MqttReasonCode.ServerShuttingDown, (await v5.ReceiveAsync<MqttDisconnectPacket>()).ReasonCode);
        await v5.WaitClosedAsync();
        await v311.WaitClosedAsync();
        Assert.Empty(broker.Engine.Channels);
    }

    [Fact]
    public async Task Metrics_ConnectPublishDisconnect_Counted()
    {
        await using var broker = new TestBroker();
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t");
        var pub = await broker.ConnectAsync("pub");
        Assert.Equal(2, broker.Engine.Metrics.Connections);

        await pub.PublishAsync("t", "x", MqttQos.AtLeastOnce);
        await sub.ReceivePublishAsync();
        await pub.DisconnectAsync();

        Assert.Equal(1, broker.Engine.Metrics.Connections);
        Assert.Equal(2, broker.Engine.Metrics.ConnectionsMax);
        Assert.Equal(1, broker.Engine.Metrics.MessagesReceived);
        Assert.True(broker.Engine.Metrics.MessagesSent >= 1);
    }
}
