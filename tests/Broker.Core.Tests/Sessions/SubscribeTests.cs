using Broker.Abstractions;
using Broker.Core.Configuration;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Sessions;

/// <summary>SUBSCRIBE/UNSUBSCRIBE through the channel: codes, shared subscriptions and the MQTT 5 options.</summary>
public sealed class SubscribeTests
{
    [Fact]
    public async Task Subscribe_V5MixedRequests_OneReasonCodePerFilter()
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.MaxQosAllowed = 1);
        var client = await broker.ConnectAsync("c1");

        await client.SendAsync(new MqttSubscribePacket
        {
            PacketId = 5,
            Subscriptions =
            [
                new MqttTopicSubscription("a", MqttQos.AtMostOnce),
                new MqttTopicSubscription("b", MqttQos.ExactlyOnce),
                new MqttTopicSubscription("$share/g/d", MqttQos.AtLeastOnce),
                new MqttTopicSubscription("$share//d", MqttQos.AtLeastOnce),
            ],
        });

        // [MQTT-3.9.3-1]: one code per filter, in order; [MQTT-3.8.4-8]: the granted QoS may be lower than asked.
        var suback = await client.ReceiveAsync<MqttSubAckPacket>();
        Assert.Equal(5, suback.PacketId);
        Assert.Equal(
            [MqttReasonCode.GrantedQos0, MqttReasonCode.GrantedQos1, MqttReasonCode.GrantedQos1, MqttReasonCode.TopicFilterInvalid],
            suback.ReasonCodes);
    }

    [Theory] // 3.2.2.3.11 / 3.2.2.3.13: announced unavailable in CONNACK, so asking is a Protocol Error with its own code
    [InlineData("c/+", MqttReasonCode.WildcardSubscriptionsNotSupported)]
    [InlineData("$share/g/d", MqttReasonCode.SharedSubscriptionsNotSupported)]
    public async Task Subscribe_V5FeatureAnnouncedUnavailable_DisconnectWithItsCode(string filter, MqttReasonCode expected)
    {
        await using var broker = new TestBroker((mqtt, _, _, _) =>
        {
            mqtt.WildcardSubscription = false;
            mqtt.SharedSubscription = false;
        });
        var client = await broker.ConnectAsync("c1");
        Assert.Equal((byte)0, client.ConnAck!.Properties!.WildcardSubscriptionAvailable);
        Assert.Equal((byte)0, client.ConnAck!.Properties!.SharedSubscriptionAvailable);

        await client.SendAsync(new MqttSubscribePacket
        {
            PacketId = 5,
            Subscriptions = [new MqttTopicSubscription("a", MqttQos.AtMostOnce), new MqttTopicSubscription(filter, MqttQos.AtMostOnce)],
        });

        Assert.Equal(expected, (await client.ReceiveAsync<MqttDisconnectPacket>()).ReasonCode);
        await client.WaitClosedAsync();
    }

    [Fact]
    public async Task Subscribe_V311Refusal_WrittenAs0x80()
    {
        await using var broker = new TestBroker((mqtt, _, _, _) => mqtt.WildcardSubscription = false);
        var client = await broker.ConnectAsync("c1", MqttProtocolVersion.V311);

        var suback = await client.SubscribeAsync("a/#", MqttQos.AtLeastOnce);

        // 3.9.3 (3.1.1): 0x80 Failure is the only failure code.
        Assert.Equal([MqttReasonCode.UnspecifiedError], suback.ReasonCodes);
    }

    [Fact]
    public async Task Subscribe_InvalidFilter_ConnectionClosed()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("c1", MqttProtocolVersion.V311);

        await client.SendAsync(new MqttSubscribePacket { PacketId = 1, Subscriptions = [new MqttTopicSubscription("a/#/b", MqttQos.AtMostOnce)] });

        // [MQTT-4.7.1-2]: '#' must be last; a malformed SUBSCRIBE closes the connection.
        await client.WaitClosedAsync();
    }

    [Fact]
    public async Task Subscribe_SharedRoundRobin_AlternatesBetweenMembers()
    {
        await using var broker = new TestBroker((_, _, _, options) => options.SharedSubscriptionStrategy = SharedStrategy.RoundRobin);
        var a = await broker.ConnectAsync("a");
        var b = await broker.ConnectAsync("b");
        Assert.Equal([MqttReasonCode.GrantedQos1], (await a.SubscribeAsync("$share/g/t", MqttQos.AtLeastOnce)).ReasonCodes);
        Assert.Equal([MqttReasonCode.GrantedQos1], (await b.SubscribeAsync("$share/g/t", MqttQos.AtLeastOnce)).ReasonCodes);
        var pub = await broker.ConnectAsync("pub");

        for (var i = 0; i < 4; i++)
            await pub.PublishAsync("t", "m" + i, MqttQos.AtLeastOnce);

        // 4.8.2: each message of a shared subscription goes to one member of the group.
        var toA = await a.PingAsync();
        var toB = await b.PingAsync();
        Assert.Equal(2, toA.Count);
        Assert.Equal(2, toB.Count);
        var all = toA.Concat(toB).Cast<MqttPublishPacket>().Select(p => System.Text.Encoding.UTF8.GetString(p.Payload.Span)).Order();
        Assert.Equal(["m0", "m1", "m2", "m3"], all);
    }

    [Fact]
    public async Task Subscribe_SharedAndPlain_EachGetsACopy()
    {
        await using var broker = new TestBroker();
        var shared = await broker.ConnectAsync("shared");
        var plain = await broker.ConnectAsync("plain");
        await shared.SubscribeAsync("$share/g/t");
        await plain.SubscribeAsync("t");
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("t", "x", MqttQos.AtLeastOnce);

        Assert.Equal("t", (await shared.ReceivePublishAsync()).Topic);
        Assert.Equal("t", (await plain.ReceivePublishAsync()).Topic);
    }

    [Fact]
    public async Task Subscribe_NoLocal_OwnMessagesNotDelivered()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("c1");
        await client.SubscribeAsync("t", MqttQos.AtMostOnce, noLocal: true);
        var other = await broker.ConnectAsync("c2");

        await client.PublishAsync("t", "mine");
        await other.PublishAsync("t", "theirs");

        // [MQTT-3.8.3-3]: No Local 1 -> messages are not forwarded to the connection that published them.
        var received = await client.ReceivePublishAsync();
        Assert.Equal("theirs"u8.ToArray(), received.Payload.ToArray());
        await client.AssertNothingReceivedAsync();
    }

    [Fact]
    public async Task Subscribe_WithoutNoLocal_OwnMessagesDelivered()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("c1");
        await client.SubscribeAsync("t", MqttQos.AtMostOnce);

        await client.SendAsync(new MqttPublishPacket { Topic = "t", Payload = "mine"u8.ToArray() });

        Assert.Equal("mine"u8.ToArray(), (await client.ReceivePublishAsync()).Payload.ToArray());
    }

    [Fact]
    public async Task Subscribe_RetainAsPublished_RetainFlagKeptOnlyWhenAsked()
    {
        await using var broker = new TestBroker();
        var keeps = await broker.ConnectAsync("keeps");
        await keeps.SubscribeAsync("t", MqttQos.AtMostOnce, retainAsPublished: true);
        var clears = await broker.ConnectAsync("clears");
        await clears.SubscribeAsync("t", MqttQos.AtMostOnce);
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("t", "r", retain: true);

        // [MQTT-3.3.1-12]: Retain As Published 0 -> RETAIN cleared on forwarding; 1 -> kept as published.
        Assert.True((await keeps.ReceivePublishAsync()).Retain);
        Assert.False((await clears.ReceivePublishAsync()).Retain);
    }

    [Fact]
    public async Task Subscribe_SubscriptionIdentifier_CarriedOnDeliveries()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("c1");
        await client.SubscribeAsync("a/+", MqttQos.AtMostOnce, subscriptionId: 7);
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("a/b");

        // [MQTT-3.3.4-3]: the PUBLISH carries the Subscription Identifier of the matching subscription.
        Assert.Equal([7u], (await client.ReceivePublishAsync()).SubscriptionIdentifiers);
    }

    [Fact]
    public async Task Subscribe_OverlappingV311_DeliveredOnceAtMaximumQos()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("c1", MqttProtocolVersion.V311);
        await client.SubscribeAsync("a/+", MqttQos.AtMostOnce);
        await client.SubscribeAsync("a/#", MqttQos.ExactlyOnce);
        var pub = await broker.ConnectAsync("pub", MqttProtocolVersion.V311);

        await pub.PublishAsync("a/b", "x", MqttQos.ExactlyOnce);

        // [MQTT-3.3.5-1]: overlapping subscriptions deliver at the maximum QoS of them; delivered once.
        var received = await client.ReceivePublishAsync();
        Assert.Equal(MqttQos.ExactlyOnce, received.Qos);
        Assert.Empty(await client.PingAsync());
    }

    [Fact]
    public async Task Subscribe_OverlappingV5WithIdentifiers_DeliveredOnceWithBothIdentifiers()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("c1");
        await client.SubscribeAsync("a/+", MqttQos.AtMostOnce, subscriptionId: 1);
        await client.SubscribeAsync("a/#", MqttQos.AtLeastOnce, subscriptionId: 2);
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("a/b", "x", MqttQos.AtLeastOnce);

        // [MQTT-3.3.4-4] / [MQTT-3.3.4-5]: one PUBLISH carrying the identifiers of every matching subscription.
        var received = await client.ReceivePublishAsync();
        Assert.Equal(MqttQos.AtLeastOnce, received.Qos);
        Assert.Equal([1u, 2u], received.SubscriptionIdentifiers!.Order());
        Assert.Empty(await client.PingAsync());
    }

    [Fact]
    public async Task Subscribe_SameFilterAgain_ReplacesSubscription()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("c1");
        await client.SubscribeAsync("t", MqttQos.AtMostOnce);
        await client.SubscribeAsync("t", MqttQos.AtLeastOnce);
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("t", "x", MqttQos.AtLeastOnce);

        // [MQTT-3.8.4-3]: a SUBSCRIBE for an existing filter replaces it.
        Assert.Equal(MqttQos.AtLeastOnce, (await client.ReceivePublishAsync()).Qos);
        Assert.Empty(await client.PingAsync());
    }

    [Fact]
    public async Task Unsubscribe_KnownAndUnknownFilters_V5CodesPerFilter()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("c1");
        await client.SubscribeAsync("t");

        await client.SendAsync(new MqttUnsubscribePacket { PacketId = 9, TopicFilters = ["t", "never"] });

        // 3.11.3: 0x00 Success for a removed subscription, 0x11 No subscription existed otherwise.
        var unsuback = await client.ReceiveAsync<MqttUnsubAckPacket>();
        Assert.Equal(9, unsuback.PacketId);
        Assert.Equal([MqttReasonCode.Success, MqttReasonCode.NoSubscriptionExisted], unsuback.ReasonCodes);
        var pub = await broker.ConnectAsync("pub");
        await pub.PublishAsync("t", "x", MqttQos.AtLeastOnce);
        await client.AssertNothingReceivedAsync();
    }

    [Fact]
    public async Task Unsubscribe_V311_UnsubAckWithoutCodes()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("c1", MqttProtocolVersion.V311);

        await client.SendAsync(new MqttUnsubscribePacket { PacketId = 3, TopicFilters = ["never"] });

        // [MQTT-3.10.4-5]: UNSUBACK even when nothing was removed.
        Assert.Equal(3, (await client.ReceiveAsync<MqttUnsubAckPacket>()).PacketId);
    }
}
