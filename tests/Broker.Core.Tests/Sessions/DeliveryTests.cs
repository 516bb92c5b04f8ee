using Broker.Abstractions;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Sessions;

/// <summary>MQTT 5 per-delivery properties: message expiry, topic aliases, the client's Maximum Packet Size.</summary>
public sealed class DeliveryTests
{
    [Fact]
    public async Task MessageExpiry_QueuedMessageExpires_NotDelivered()
    {
        await using var broker = new TestBroker();
        var log = HookLog.Attach(broker.Engine);
        var sub = await broker.ConnectAsync("sub", cleanStart: false, sessionExpiry: 3600);
        await sub.SubscribeAsync("t", MqttQos.AtLeastOnce);
        await sub.AbortAsync();
        var pub = await broker.ConnectAsync("pub", configure: c => c.KeepAlive = 0);
        await pub.PublishAsync("t", "short", MqttQos.AtLeastOnce, messageExpiry: 10);
        await pub.PublishAsync("t", "forever", MqttQos.AtLeastOnce);

        broker.Time.Advance(TimeSpan.FromSeconds(10));
        var resumed = await broker.ConnectAsync("sub", cleanStart: false, sessionExpiry: 3600);

        // [MQTT-3.3.2-5]: once the Message Expiry Interval has passed the server must not deliver it.
        var delivered = await resumed.ReceivePublishAsync();
        Assert.Equal("forever"u8.ToArray(), delivered.Payload.ToArray());
        await resumed.AssertNothingReceivedAsync();
        Assert.Contains("message.dropped:sub:t:expired", log.Events);
    }

    [Fact]
    public async Task MessageExpiry_QueuedMessageDelivered_CarriesRemainingInterval()
    {
        await using var broker = new TestBroker();
        var sub = await broker.ConnectAsync("sub", cleanStart: false, sessionExpiry: 3600);
        await sub.SubscribeAsync("t", MqttQos.AtLeastOnce);
        await sub.AbortAsync();
        var pub = await broker.ConnectAsync("pub", configure: c => c.KeepAlive = 0);
        await pub.PublishAsync("t", "x", MqttQos.AtLeastOnce, messageExpiry: 10);

        broker.Time.Advance(TimeSpan.FromSeconds(3));
        var resumed = await broker.ConnectAsync("sub", cleanStart: false, sessionExpiry: 3600);

        // [MQTT-3.3.2-6]: the forwarded Message Expiry Interval is the received one minus the time spent waiting.
        var delivered = await resumed.ReceivePublishAsync();
        Assert.Equal(7u, delivered.MessageExpiryInterval);
    }

    [Fact]
    public async Task MessageExpiry_ImmediateDelivery_CarriesFullInterval()
    {
        await using var broker = new TestBroker();
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t");
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("t", "x", MqttQos.AtLeastOnce, messageExpiry: 42);

        Assert.Equal(42u, (await sub.ReceivePublishAsync()).MessageExpiryInterval);
    }

    [Fact]
    public async Task TopicAlias_InboundSetThenUsed_Resolved()
    {
        await using var broker = new TestBroker();
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("a/b");
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("a/b", "first", MqttQos.AtLeastOnce, topicAlias: 3);
        await pub.PublishAsync("", "second", MqttQos.AtLeastOnce, topicAlias: 3);

        // 3.3.2.3.4: a PUBLISH with a topic and an alias sets the mapping; one with an empty topic uses it.
        Assert.Equal("a/b", (await sub.ReceivePublishAsync()).Topic);
        var second = await sub.ReceivePublishAsync();
        Assert.Equal("a/b", second.Topic);
        Assert.Equal("second"u8.ToArray(), second.Payload.ToArray());
    }

    [Fact]
    public async Task TopicAlias_AboveAnnouncedMaximum_DisconnectTopicAliasInvalid()
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.MaxTopicAlias = 5);
        var pub = await broker.ConnectAsync("pub");
        Assert.Equal((ushort)5, pub.ConnAck!.Properties!.TopicAliasMaximum);

        await pub.SendAsync(new MqttPublishPacket { Topic = "t", TopicAlias = 6 });

        // [MQTT-3.3.2-9]: an alias above the Topic Alias Maximum sent in CONNACK -> DISCONNECT 0x94.
        var disconnect = await pub.ReceiveAsync<MqttDisconnectPacket>();
        Assert.Equal(MqttReasonCode.TopicAliasInvalid, disconnect.ReasonCode);
        await pub.WaitClosedAsync();
    }

    [Fact]
    public async Task TopicAlias_UnknownAliasWithEmptyTopic_DisconnectProtocolError()
    {
        await using var broker = new TestBroker();
        var pub = await broker.ConnectAsync("pub");

        await pub.SendAsync(new MqttPublishPacket { Topic = "", TopicAlias = 2 });

        // 3.3.2.3.4: an empty topic with an alias that has no mapping is a Protocol Error.
        var disconnect = await pub.ReceiveAsync<MqttDisconnectPacket>();
        Assert.Equal(MqttReasonCode.ProtocolError, disconnect.ReasonCode);
    }

    [Fact]
    public async Task Publish_FromClientWithSubscriptionIdentifier_DisconnectProtocolError()
    {
        await using var broker = new TestBroker();
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t", MqttQos.AtMostOnce);
        var pub = await broker.ConnectAsync("pub");

        await pub.SendAsync(new MqttPublishPacket { Topic = "t", SubscriptionIdentifiers = [7] });

        // [MQTT-3.3.4-6]: a PUBLISH from a client carries no Subscription Identifier; 3.3.4: a Protocol Error.
        var disconnect = await pub.ReceiveAsync<MqttDisconnectPacket>();
        Assert.Equal(MqttReasonCode.ProtocolError, disconnect.ReasonCode);
        await pub.WaitClosedAsync();
        await sub.AssertNothingReceivedAsync();
    }

    [Fact]
    public async Task TopicAlias_OutboundWithClientMaximum2_AliasesAssignedThenTopicOmitted()
    {
        await using var broker = new TestBroker();
        var sub = await broker.ConnectAsync("sub", configure: c => c.Properties = new MqttProperties { TopicAliasMaximum = 2 });
        await sub.SubscribeAsync("#", MqttQos.AtMostOnce);
        var pub = await broker.ConnectAsync("pub");

        foreach (var topic in new[] { "t1", "t1", "t2", "t3", "t2" })
            await pub.PublishAsync(topic);

        // 3.3.2.3.4: the server may set aliases up to the client's Topic Alias Maximum [MQTT-3.3.2-10]; once set,
        // the topic may be sent empty with the alias.
        var received = new List<(string Topic, ushort Alias)>();
        for (var i = 0; i < 5; i++)
        {
            var p = await sub.ReceivePublishAsync();
            received.Add((p.Topic, p.TopicAlias));
        }
        Assert.Equal([("t1", 1), ("", 1), ("t2", 2), ("t3", 0), ("", 2)], received);
    }

    [Fact]
    public async Task TopicAlias_ClientAnnouncesNone_NoAliasesSent()
    {
        await using var broker = new TestBroker();
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t", MqttQos.AtMostOnce);
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("t");
        await pub.PublishAsync("t");

        // [MQTT-3.1.2-26]: no Topic Alias unless the client allowed some.
        Assert.Equal(0, (await sub.ReceivePublishAsync()).TopicAlias);
        Assert.Equal(0, (await sub.ReceivePublishAsync()).TopicAlias);
    }

    [Fact]
    public async Task MaximumPacketSize_OversizeMessage_NotSentAndWindowFreed()
    {
        await using var broker = new TestBroker((_, session, _, _) => session.MaxInflight = 1);
        var log = HookLog.Attach(broker.Engine);
        var sub = await broker.ConnectAsync("sub", configure: c => c.Properties = new MqttProperties { MaximumPacketSize = 64 });
        await sub.SubscribeAsync("t", MqttQos.AtLeastOnce);
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("t", new string('x', 200), MqttQos.AtLeastOnce);
        await pub.PublishAsync("t", "small", MqttQos.AtLeastOnce);

        // [MQTT-3.1.2-25]: a packet larger than the client's Maximum Packet Size is discarded as if delivered, so the
        // QoS 1 message does not hold the only in-flight slot.
        var delivered = await sub.ReceivePublishAsync();
        Assert.Equal("small"u8.ToArray(), delivered.Payload.ToArray());
        Assert.Contains("message.dropped:sub:t:too_large", log.Events);
        await sub.AckAsync(MqttPacketType.PubAck, delivered.PacketId);
        await sub.AssertNothingReceivedAsync();
        Assert.Equal(0, sub.Channel.Session!.InflightCount);
    }
}
