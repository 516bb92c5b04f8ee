using Broker.Abstractions;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Sessions;

/// <summary>CONNECT/CONNACK, the first-packet rules, the CONNECT timeout and keep-alive.</summary>
public sealed class ConnectTests
{
    [Fact]
    public async Task Connect_V311EmptyClientIdWithoutCleanSession_RefusedWithIdentifierRejected()
    {
        await using var broker = new TestBroker();
        var client = broker.NewClient(MqttProtocolVersion.V311);

        var connack = await client.ConnectAsync(new MqttConnectPacket { ClientId = "", CleanSession = false });

        // [MQTT-3.1.3-8]: empty id with CleanSession 0 -> return code 0x02, then close.
        Assert.Equal(MqttReasonCode.ClientIdentifierNotValid, connack.ReasonCode);
        await client.WaitClosedAsync();
    }

    [Fact]
    public async Task Connect_V311EmptyClientIdWithCleanSession_Accepted()
    {
        await using var broker = new TestBroker();
        // [MQTT-3.1.3-6]: the server assigns a unique id.
        var client = await broker.ConnectAsync("", MqttProtocolVersion.V311);
        Assert.StartsWith("auto-", client.Channel.Client!.ClientId, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_V310EmptyClientId_Refused()
    {
        await using var broker = new TestBroker();
        var client = broker.NewClient(MqttProtocolVersion.V310);

        var connack = await client.ConnectAsync(new MqttConnectPacket { ClientId = "" });

        // MQTT 3.1 (3.1 CONNECT payload): the client id must be 1..23 characters; 0x02 Identifier rejected.
        Assert.Equal(MqttReasonCode.ClientIdentifierNotValid, connack.ReasonCode);
        await client.WaitClosedAsync();
    }

    [Fact]
    public async Task Connect_V5EmptyClientId_AssignedClientIdentifierReturned()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("");

        // [MQTT-3.2.2-16]: the CONNACK carries the Assigned Client Identifier.
        var assigned = client.ConnAck!.Properties?.AssignedClientIdentifier;
        Assert.False(string.IsNullOrEmpty(assigned));
        Assert.Equal(assigned, client.Channel.Client!.ClientId);
        Assert.True(broker.Engine.Sessions.TryGet(assigned, out _));
    }

    [Fact]
    public async Task Connect_V5_ConnAckAnnouncesLimits()
    {
        await using var broker = new TestBroker((mqtt, session, _, _) =>
        {
            mqtt.MaxPacketSize = 4096;
            mqtt.MaxTopicAlias = 7;
            session.MaxAwaitingRel = 12;
        });
        var client = await broker.ConnectAsync("c1");

        var properties = client.ConnAck!.Properties;
        Assert.NotNull(properties);
        // 3.2.2.3.3 Receive Maximum: incoming QoS 2 messages the server processes concurrently (session.max_awaiting_rel).
        Assert.Equal((ushort)12, properties.ReceiveMaximum);
        // 3.2.2.3.6 Maximum Packet Size, 3.2.2.3.8 Topic Alias Maximum.
        Assert.Equal(4096u, properties.MaximumPacketSize);
        Assert.Equal((ushort)7, properties.TopicAliasMaximum);
        Assert.Null(properties.AssignedClientIdentifier);
        Assert.False(client.ConnAck.SessionPresent);
    }

    [Fact]
    public async Task Connect_V311_ConnAckHasNoProperties()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("c1", MqttProtocolVersion.V311);
        Assert.Null(client.ConnAck!.Properties);
    }

    [Fact]
    public async Task Connect_SecondConnectV5_DisconnectProtocolErrorAndClose()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("c1");

        // The CONNECT version byte travels in the packet, so the client's writer can still encode one.
        await client.SendAsync(new MqttConnectPacket { ClientId = "c1", ProtocolVersion = MqttProtocolVersion.V500 });

        // [MQTT-3.1.0-2]: a second CONNECT is a Protocol Error; MQTT 5 servers send DISCONNECT 0x82 first.
        var disconnect = await client.ReceiveAsync<MqttDisconnectPacket>();
        Assert.Equal(MqttReasonCode.ProtocolError, disconnect.ReasonCode);
        await client.WaitClosedAsync();
    }

    [Fact]
    public async Task Connect_SecondConnectV311_Closed()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("c1", MqttProtocolVersion.V311);

        await client.SendAsync(new MqttConnectPacket { ClientId = "c1", ProtocolVersion = MqttProtocolVersion.V311 });

        // [MQTT-3.1.0-2]; 3.1.1 has no DISCONNECT from the server.
        await client.WaitClosedAsync();
        Assert.Empty(client.Drain());
    }

    [Fact]
    public async Task Connect_FirstPacketNotConnect_ClosedWithoutAnswer()
    {
        await using var broker = new TestBroker();
        var client = broker.NewClient(MqttProtocolVersion.V311);

        await client.SendAsync(MqttPingReqPacket.Instance);

        // [MQTT-3.1.0-1]: the first packet from the client MUST be CONNECT.
        await client.WaitClosedAsync();
        Assert.Empty(client.Drain());
        Assert.Equal(0, broker.Engine.Sessions.Count);
    }

    [Fact]
    public async Task Connect_NoConnectWithinIdleTimeout_Closed()
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.IdleTimeout = TimeSpan.FromSeconds(10));
        var client = broker.NewClient();

        broker.Time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(client.Server.IsCompleted);

        // mqtt.idle_timeout: a connection that has not sent CONNECT in time is closed.
        broker.Time.Advance(TimeSpan.FromSeconds(1));
        await client.WaitClosedAsync();
        Assert.Empty(broker.Engine.Channels);
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task KeepAlive_NothingFor1_5TimesKeepAlive_ClosedAndWillPublished(MqttProtocolVersion version)
    {
        await using var broker = new TestBroker();
        var watcher = await broker.ConnectAsync("watcher");
        await watcher.SubscribeAsync("will/t", MqttQos.AtMostOnce);
        var client = await broker.ConnectAsync("c1", version, configure: c =>
        {
            c.KeepAlive = 10;
            c.WillTopic = "will/t";
            c.WillPayload = "gone"u8.ToArray();
        });

        broker.Time.Advance(TimeSpan.FromSeconds(14));
        await client.AssertNothingReceivedAsync(); // the PINGREQ restarts the count: from here 15 s are needed
        broker.Time.Advance(TimeSpan.FromSeconds(14.9));
        Assert.False(client.IsClosed);
        broker.Time.Advance(TimeSpan.FromSeconds(0.1));

        // [MQTT-3.1.2-24] (3.1.1) / [MQTT-3.1.2-22] (5.0): nothing within 1.5 x Keep Alive -> the server closes the
        // connection; 5.0 says why with DISCONNECT 0x8D. The will is published on an abnormal close [MQTT-3.1.2-8].
        if (version == MqttProtocolVersion.V500)
        {
            var disconnect = await client.ReceiveAsync<MqttDisconnectPacket>();
            Assert.Equal(MqttReasonCode.KeepAliveTimeout, disconnect.ReasonCode);
        }
        await client.WaitClosedAsync();
        var will = await watcher.ReceivePublishAsync();
        Assert.Equal("will/t", will.Topic);
        Assert.Equal("gone"u8.ToArray(), will.Payload.ToArray());
    }

    [Fact]
    public async Task KeepAlive_Zero_NeverTimesOut()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("c1", configure: c => c.KeepAlive = 0);

        broker.Time.Advance(TimeSpan.FromHours(10));

        // 3.1.2.10: a Keep Alive of 0 turns the mechanism off.
        await client.AssertNothingReceivedAsync();
    }

    [Fact]
    public async Task Connect_ShuttingDown_RefusedServerUnavailable()
    {
        await using var broker = new TestBroker();
        broker.Engine.BeginShutdown();
        var client = broker.NewClient();

        var connack = await client.ConnectAsync(new MqttConnectPacket { ClientId = "c1" });

        Assert.Equal(MqttReasonCode.ServerUnavailable, connack.ReasonCode);
        await client.WaitClosedAsync();
    }

    [Theory]
    [InlineData(3, MqttProtocolVersion.V311)] // "MQTT" at 3.1's level: answered as 3.1.1 (return code 0x01)
    [InlineData(6, MqttProtocolVersion.V500)] // a level above 5: answered as 5.0 (reason code 0x84)
    public async Task Connect_UnsupportedProtocolLevel_ConnAckUnsupportedProtocolVersion(byte level, MqttProtocolVersion answeredAs)
    {
        await using var broker = new TestBroker();
        var client = broker.NewClient(answeredAs);

        // CONNECT "MQTT" at the given level, clean session, keep-alive 60, client id "a".
        await client.SendRawAsync([0x10, 13, 0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', level, 0x02, 0, 60, 0, 1, (byte)'a']);

        // [MQTT-3.1.2-2]: an unsupported protocol level -> CONNACK "unacceptable protocol version", then close.
        var connack = await client.ReceiveAsync<MqttConnAckPacket>();
        Assert.Equal(MqttReasonCode.UnsupportedProtocolVersion, connack.ReasonCode);
        await client.WaitClosedAsync();
    }
}
