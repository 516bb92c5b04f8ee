using Broker.Abstractions;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Sessions;

/// <summary>QoS 0/1/2 flows, the in-flight window, the bounded queue and the QoS 2 receive limit.</summary>
public sealed class QosTests
{
    [Theory]
    [InlineData(MqttQos.AtMostOnce)]
    [InlineData(MqttQos.AtLeastOnce)]
    [InlineData(MqttQos.ExactlyOnce)]
    public async Task Publish_EachQos_DeliveredOnceAndAcknowledged(MqttQos qos)
    {
        await using var broker = new TestBroker();
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t", MqttQos.ExactlyOnce);
        var pub = await broker.ConnectAsync("pub");

        var ack = await pub.PublishAsync("t", "hello", qos);

        var received = await sub.ReceivePublishAsync();
        Assert.Equal("t", received.Topic);
        Assert.Equal("hello"u8.ToArray(), received.Payload.ToArray());
        Assert.Equal(qos, received.Qos);
        Assert.False(received.Dup);
        if (qos == MqttQos.AtMostOnce)
        {
            Assert.Null(ack);
            Assert.Equal(0, received.PacketId);
        }
        else
        {
            Assert.Equal(MqttReasonCode.Success, ack!.ReasonCode);
            Assert.NotEqual(0, received.PacketId);
        }
        if (qos == MqttQos.AtLeastOnce)
        {
            await sub.AckAsync(MqttPacketType.PubAck, received.PacketId);
        }
        else if (qos == MqttQos.ExactlyOnce)
        {
            // 4.3.3: PUBREC -> PUBREL from the server -> PUBCOMP.
            await sub.AckAsync(MqttPacketType.PubRec, received.PacketId);
            var pubrel = await sub.ReceiveAsync<MqttAckPacket>();
            Assert.Equal(MqttPacketType.PubRel, pubrel.Type);
            Assert.Equal(received.PacketId, pubrel.PacketId);
            await sub.AckAsync(MqttPacketType.PubComp, received.PacketId);
        }
        await sub.AssertNothingReceivedAsync();
        Assert.Equal(0, sub.Channel.Session!.InflightCount);
    }

    [Theory]
    [InlineData(MqttQos.AtMostOnce, MqttQos.ExactlyOnce, MqttQos.AtMostOnce)]
    [InlineData(MqttQos.AtLeastOnce, MqttQos.ExactlyOnce, MqttQos.AtLeastOnce)]
    [InlineData(MqttQos.ExactlyOnce, MqttQos.AtMostOnce, MqttQos.AtMostOnce)]
    [InlineData(MqttQos.ExactlyOnce, MqttQos.AtLeastOnce, MqttQos.AtLeastOnce)]
    [InlineData(MqttQos.AtLeastOnce, MqttQos.AtMostOnce, MqttQos.AtMostOnce)]
    public async Task Publish_DeliveredQos_IsMinimumOfPublishedAndGranted(MqttQos published, MqttQos granted, MqttQos delivered)
    {
        await using var broker = new TestBroker();
        var sub = await broker.ConnectAsync("sub", MqttProtocolVersion.V311);
        await sub.SubscribeAsync("t", granted);
        var pub = await broker.ConnectAsync("pub", MqttProtocolVersion.V311);

        await pub.PublishAsync("t", "x", published);

        // [MQTT-3.8.4-6] (3.1.1) / 3.8.4 (5.0): delivered at min(published QoS, granted QoS).
        var received = await sub.ReceivePublishAsync();
        Assert.Equal(delivered, received.Qos);
    }

    [Fact]
    public async Task Publish_Qos2ResentWithDupBeforePubRel_RoutedOncePubRecEachTime()
    {
        await using var broker = new TestBroker();
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t", MqttQos.AtMostOnce);
        var pub = await broker.ConnectAsync("pub");

        var publish = new MqttPublishPacket { Topic = "t", Payload = "once"u8.ToArray(), Qos = MqttQos.ExactlyOnce, PacketId = 7 };
        await pub.SendAsync(publish);
        Assert.Equal(MqttPacketType.PubRec, (await pub.ReceiveAsync<MqttAckPacket>()).Type);
        publish.Dup = true;
        await pub.SendAsync(publish);
        var again = await pub.ReceiveAsync<MqttAckPacket>();
        Assert.Equal(MqttPacketType.PubRec, again.Type);
        Assert.Equal(7, again.PacketId);

        // [MQTT-4.3.3-10] (5.0) / [MQTT-4.3.3-2] (3.1.1): until PUBREL the receiver must not cause onward delivery again.
        Assert.Equal("once"u8.ToArray(), (await sub.ReceivePublishAsync()).Payload.ToArray());
        await sub.AssertNothingReceivedAsync();

        await pub.AckAsync(MqttPacketType.PubRel, 7);
        var pubcomp = await pub.ReceiveAsync<MqttAckPacket>();
        Assert.Equal(MqttPacketType.PubComp, pubcomp.Type);
        Assert.Equal(MqttReasonCode.Success, pubcomp.ReasonCode);

        // After PUBCOMP the packet id is free again: the same id is a new message.
        publish.Dup = false;
        await pub.SendAsync(publish);
        Assert.Equal(MqttPacketType.PubRec, (await pub.ReceiveAsync<MqttAckPacket>()).Type);
        Assert.Equal("once"u8.ToArray(), (await sub.ReceivePublishAsync()).Payload.ToArray());
    }

    [Fact]
    public async Task PubRel_UnknownPacketIdV5_PubCompPacketIdentifierNotFound()
    {
        await using var broker = new TestBroker();
        var client = await broker.ConnectAsync("c1");

        await client.AckAsync(MqttPacketType.PubRel, 99);

        // 3.7.2.1: PUBCOMP reason 0x92 Packet Identifier not found.
        var pubcomp = await client.ReceiveAsync<MqttAckPacket>();
        Assert.Equal(MqttPacketType.PubComp, pubcomp.Type);
        Assert.Equal(MqttReasonCode.PacketIdentifierNotFound, pubcomp.ReasonCode);
    }

    [Fact]
    public async Task InflightWindow_SubscriberDoesNotAck_OnlyWindowSentUntilPubAck()
    {
        await using var broker = new TestBroker((_, session, _, _) => session.MaxInflight = 2);
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t", MqttQos.AtLeastOnce);
        var pub = await broker.ConnectAsync("pub");

        for (var i = 1; i <= 3; i++)
            await pub.PublishAsync("t", "m" + i, MqttQos.AtLeastOnce);

        // session.max_inflight: at most 2 unacknowledged QoS 1 messages; the third waits in the queue.
        var first = await sub.ReceivePublishAsync();
        var second = await sub.ReceivePublishAsync();
        Assert.Equal("m1"u8.ToArray(), first.Payload.ToArray());
        Assert.Equal("m2"u8.ToArray(), second.Payload.ToArray());
        await sub.AssertNothingReceivedAsync();
        Assert.Equal(1, sub.Channel.Session!.QueueLength);

        await sub.AckAsync(MqttPacketType.PubAck, first.PacketId);
        var third = await sub.ReceivePublishAsync();
        Assert.Equal("m3"u8.ToArray(), third.Payload.ToArray());
    }

    [Fact]
    public async Task InflightWindow_ClientReceiveMaximum1_LowersWindow()
    {
        await using var broker = new TestBroker();
        var sub = await broker.ConnectAsync("sub", configure: c => c.Properties = new MqttProperties { ReceiveMaximum = 1 });
        await sub.SubscribeAsync("t", MqttQos.ExactlyOnce);
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("t", "m1", MqttQos.ExactlyOnce);
        await pub.PublishAsync("t", "m2", MqttQos.AtLeastOnce);

        // [MQTT-3.3.4-7]: the server must not send more than Receive Maximum QoS 1/2 PUBLISH packets without ack.
        var first = await sub.ReceivePublishAsync();
        await sub.AssertNothingReceivedAsync();

        // A QoS 2 message holds its slot until PUBCOMP (4.9), not PUBREC.
        await sub.AckAsync(MqttPacketType.PubRec, first.PacketId);
        Assert.Equal(MqttPacketType.PubRel, (await sub.ReceiveAsync<MqttAckPacket>()).Type);
        await sub.AssertNothingReceivedAsync();
        await sub.AckAsync(MqttPacketType.PubComp, first.PacketId);
        Assert.Equal("m2"u8.ToArray(), (await sub.ReceivePublishAsync()).Payload.ToArray());
    }

    [Theory]
    [InlineData(nameof(Configuration.QueueOverflowPolicy.DropOldest), "m3,m4,m5")]
    [InlineData(nameof(Configuration.QueueOverflowPolicy.DropNewest), "m1,m2,m3")]
    public async Task Queue_OfflineSessionOverflows_BoundedAndDropsCounted(string overflow, string expected)
    {
        var policy = Enum.Parse<Configuration.QueueOverflowPolicy>(overflow);
        await using var broker = new TestBroker((_, session, _, _) =>
        {
            session.MaxMqueueLength = 3;
            session.MqueueOverflow = policy;
        });
        var log = HookLog.Attach(broker.Engine);
        var sub = await broker.ConnectAsync("sub", MqttProtocolVersion.V311, cleanStart: false);
        await sub.SubscribeAsync("t", MqttQos.AtLeastOnce);
        await sub.AbortAsync();
        var pub = await broker.ConnectAsync("pub");

        for (var i = 1; i <= 5; i++)
            await pub.PublishAsync("t", "m" + i, MqttQos.AtLeastOnce);

        // session.max_mqueue_len bounds the queue; session.mqueue_overflow picks the victim; each drop is counted.
        Assert.Equal(2, broker.Engine.Metrics.MessagesDropped);
        Assert.Equal(2, broker.Engine.Metrics.MessagesQueueDropped);
        Assert.Equal(2, log.Events.Count(e => e == "message.dropped:sub:t:queue_full"));

        var resumed = await broker.ConnectAsync("sub", MqttProtocolVersion.V311, cleanStart: false);
        var payloads = new List<string>();
        for (var i = 0; i < 3; i++)
            payloads.Add(System.Text.Encoding.UTF8.GetString((await resumed.ReceivePublishAsync()).Payload.Span));
        Assert.Equal(expected, string.Join(",", payloads));
        await resumed.AssertNothingReceivedAsync();
    }

    // session.max_mqueue_bytes (issue 17 item 2): the queue is bounded in bytes as well as in messages; drop_oldest
    // drops as many old messages as a new one needs, a message larger than the limit is dropped itself, each counted.
    [Fact]
    public async Task Queue_OfflineSessionOverBytes_OldestDroppedToMakeRoom_TooLargeDropped()
    {
        await using var broker = new TestBroker((_, session, _, _) => session.MaxMqueueBytes = 1000);
        var sub = await broker.ConnectAsync("sub", MqttProtocolVersion.V311, cleanStart: false);
        await sub.SubscribeAsync("t", MqttQos.AtLeastOnce);
        await sub.AbortAsync();
        var pub = await broker.ConnectAsync("pub");

        // 299 bytes of payload + 1 of topic = 300 each: three fit in 1000 bytes.
        for (var i = 1; i <= 4; i++)
            await pub.PublishAsync("t", i + new string('.', 298), MqttQos.AtLeastOnce);
        await pub.PublishAsync("t", "2" + new string('.', 598), MqttQos.AtLeastOnce); // 600: drops the two oldest left
        await pub.PublishAsync("t", new string('x', 1000), MqttQos.AtLeastOnce);     // 1001: larger than the limit

        Assert.Equal(4, broker.Engine.Metrics.MessagesQueueDropped);
        Assert.Equal(4, broker.Engine.Sessions.TryGet("sub", out var session) ? session.DroppedCount : -1);
        var resumed = await broker.ConnectAsync("sub", MqttProtocolVersion.V311, cleanStart: false);
        var lengths = new List<int>();
        for (var i = 0; i < 2; i++)
        {
            var message = await resumed.ReceivePublishAsync();
            lengths.Add(message.Payload.Length);
            await resumed.AckAsync(MqttPacketType.PubAck, message.PacketId);
        }
        Assert.Equal([299, 599], lengths);
        await resumed.AssertNothingReceivedAsync();
    }

    // Bounded by session.max_qos0_backlog, or in bytes by session.max_qos0_backlog_bytes (issue 17 item 2: large
    // messages reach a byte limit long before the count). Either way 5 messages of 1 KB (and a 1-byte topic) fit.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Qos0_ConnectionStopsReading_WithoutBackpressure_BacklogBoundedAndDropsCounted(bool inBytes)
    {
        await using var broker = new TestBroker((_, session, _, _) =>
        {
            if (inBytes)
                session.MaxQos0BacklogBytes = 5 * 1025;
            else
                session.MaxQos0Backlog = 5;
            session.BackpressureTimeout = TimeSpan.Zero;
        });
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t", MqttQos.AtMostOnce);
        var pub = await broker.ConnectAsync("pub");
        sub.PauseReading();

        const int sent = 200;
        var payload = new string('x', 1024);
        for (var i = 0; i < sent; i++)
            await pub.PublishAsync("t", payload, MqttQos.AtMostOnce);
        await pub.PingAsync(); // every PUBLISH has been routed

        // The writer is stuck behind the full pipe: at most the limit waits for it, the rest are dropped and counted
        // (per client too), so a slow consumer costs bounded memory.
        Assert.True(broker.Engine.Sessions.TryGet("sub", out var session));
        Assert.InRange(session.HeldBytes, 1, 5 * 1025);
        var dropped = broker.Engine.Metrics.MessagesQueueDropped;
        Assert.True(dropped >= sent / 2, $"only {dropped} of {sent} dropped");
        Assert.Equal(dropped, session.DroppedCount);

        sub.ResumeReading();
        var received = (await sub.PingAsync()).Count(p => p is MqttPublishPacket);
        Assert.Equal(sent, received + dropped); // nothing lost without being counted
        Assert.Equal(0, session.HeldBytes);
    }

    [Fact]
    public async Task Qos0_OfflineWithStoreQos0Off_DroppedNotQueued()
    {
        await using var broker = new TestBroker((_, session, _, _) => session.MqueueStoreQos0 = false);
        var log = HookLog.Attach(broker.Engine);
        var sub = await broker.ConnectAsync("sub", MqttProtocolVersion.V311, cleanStart: false);
        await sub.SubscribeAsync("t", MqttQos.AtLeastOnce);
        await sub.AbortAsync();
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("t", "q0", MqttQos.AtMostOnce);

        Assert.Contains("message.dropped:sub:t:qos0_offline", log.Events);
        var resumed = await broker.ConnectAsync("sub", MqttProtocolVersion.V311, cleanStart: false);
        await resumed.AssertNothingReceivedAsync();
    }

    [Fact]
    public async Task AwaitingRel_MoreUnreleasedQos2ThanAnnounced_DisconnectReceiveMaximumExceeded()
    {
        await using var broker = new TestBroker((_, session, _, _) => session.MaxAwaitingRel = 2);
        var pub = await broker.ConnectAsync("pub");
        Assert.Equal((ushort)2, pub.ConnAck!.Properties!.ReceiveMaximum);

        for (ushort id = 1; id <= 2; id++)
        {
            await pub.SendAsync(new MqttPublishPacket { Topic = "t", Qos = MqttQos.ExactlyOnce, PacketId = id });
            Assert.Equal(MqttPacketType.PubRec, (await pub.ReceiveAsync<MqttAckPacket>()).Type);
        }
        await pub.SendAsync(new MqttPublishPacket { Topic = "t", Qos = MqttQos.ExactlyOnce, PacketId = 3 });

        // [MQTT-3.3.4-9]: more unacknowledged QoS 2 PUBLISH than Receive Maximum -> DISCONNECT 0x93.
        var disconnect = await pub.ReceiveAsync<MqttDisconnectPacket>();
        Assert.Equal(MqttReasonCode.ReceiveMaximumExceeded, disconnect.ReasonCode);
        await pub.WaitClosedAsync();
    }

    [Fact]
    public async Task AwaitingRel_V311Exceeded_Closed()
    {
        await using var broker = new TestBroker((_, session, _, _) => session.MaxAwaitingRel = 1);
        var pub = await broker.ConnectAsync("pub", MqttProtocolVersion.V311);

        await pub.SendAsync(new MqttPublishPacket { Topic = "t", Qos = MqttQos.ExactlyOnce, PacketId = 1 });
        Assert.Equal(MqttPacketType.PubRec, (await pub.ReceiveAsync<MqttAckPacket>()).Type);
        await pub.SendAsync(new MqttPublishPacket { Topic = "t", Qos = MqttQos.ExactlyOnce, PacketId = 2 });

        await pub.WaitClosedAsync();
        Assert.Empty(pub.Drain());
    }

    [Fact]
    public async Task AwaitingRel_OldEntriesPastAwaitRelTimeout_Purged()
    {
        await using var broker = new TestBroker((_, session, _, _) =>
        {
            session.MaxAwaitingRel = 1;
            session.AwaitRelTimeout = TimeSpan.FromSeconds(30);
        });
        var pub = await broker.ConnectAsync("pub", configure: c => c.KeepAlive = 0);

        await pub.SendAsync(new MqttPublishPacket { Topic = "t", Qos = MqttQos.ExactlyOnce, PacketId = 1 });
        Assert.Equal(MqttPacketType.PubRec, (await pub.ReceiveAsync<MqttAckPacket>()).Type);
        broker.Time.Advance(TimeSpan.FromSeconds(30));

        // session.await_rel_timeout: a packet id whose PUBREL never came is forgotten, freeing its slot.
        await pub.SendAsync(new MqttPublishPacket { Topic = "t", Qos = MqttQos.ExactlyOnce, PacketId = 2 });
        var pubrec = await pub.ReceiveAsync<MqttAckPacket>();
        Assert.Equal(MqttPacketType.PubRec, pubrec.Type);
        Assert.Equal(2, pubrec.PacketId);
    }

    [Fact]
    public async Task Publish_NoSubscribers_V5PubAckNoMatchingSubscribers()
    {
        await using var broker = new TestBroker();
        var pub = await broker.ConnectAsync("pub");

        var ack = await pub.PublishAsync("nobody/listens", "x", MqttQos.AtLeastOnce);

        // 3.4.2.1: 0x10 No matching subscribers.
        Assert.Equal(MqttReasonCode.NoMatchingSubscribers, ack!.ReasonCode);
        Assert.Equal(0, broker.Engine.Metrics.MessagesDropped); // not a loss
    }

    [Fact]
    public async Task Publish_Qos2ResentAfterReconnectBeforePubRel_RoutedOnce()
    {
        await using var broker = new TestBroker();
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t", MqttQos.AtMostOnce);
        var pub = await broker.ConnectAsync("pub", cleanStart: false, sessionExpiry: 300);
        var publish = new MqttPublishPacket { Topic = "t", Payload = "q2"u8.ToArray(), Qos = MqttQos.ExactlyOnce, PacketId = 5 };
        await pub.SendAsync(publish);
        Assert.Equal(MqttPacketType.PubRec, (await pub.ReceiveAsync<MqttAckPacket>()).Type);
        await pub.AbortAsync();

        var again = await broker.ConnectAsync("pub", cleanStart: false, sessionExpiry: 300);
        publish.Dup = true;
        await again.SendAsync(publish);
        Assert.Equal(MqttPacketType.PubRec, (await again.ReceiveAsync<MqttAckPacket>()).Type);
        await again.AckAsync(MqttPacketType.PubRel, 5);
        var pubcomp = await again.ReceiveAsync<MqttAckPacket>();

        // 4.3.3 / [MQTT-4.3.3-10]: the packet id awaiting PUBREL is session state, so the re-sent PUBLISH is not
        // routed again on the new connection; the PUBREL then completes it.
        Assert.Equal(MqttReasonCode.Success, pubcomp.ReasonCode);
        Assert.Equal("q2"u8.ToArray(), (await sub.ReceivePublishAsync()).Payload.ToArray());
        await sub.AssertNothingReceivedAsync();
    }

    [Fact]
    public async Task PubRel_AfterCleanStartDiscardedSession_PacketIdentifierNotFound()
    {
        await using var broker = new TestBroker();
        var pub = await broker.ConnectAsync("pub", cleanStart: false, sessionExpiry: 300);
        await pub.SendAsync(new MqttPublishPacket { Topic = "t", Qos = MqttQos.ExactlyOnce, PacketId = 5 });
        Assert.Equal(MqttPacketType.PubRec, (await pub.ReceiveAsync<MqttAckPacket>()).Type);
        await pub.AbortAsync();

        var fresh = await broker.ConnectAsync("pub", cleanStart: true);
        await fresh.AckAsync(MqttPacketType.PubRel, 5);

        Assert.Equal(MqttReasonCode.PacketIdentifierNotFound, (await fresh.ReceiveAsync<MqttAckPacket>()).ReasonCode);
    }

    [Fact]
    public async Task Publish_UpgradeQos_DeliveredAtSubscriptionQos()
    {
        await using var broker = new TestBroker((_, session, _, _) => session.UpgradeQos = true);
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t", MqttQos.AtLeastOnce);
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("t", "x", MqttQos.AtMostOnce);

        // session.upgrade_qos (EMQX): deliver at the granted QoS even when published lower.
        Assert.Equal(MqttQos.AtLeastOnce, (await sub.ReceivePublishAsync()).Qos);
    }

    private static MqttPublishPacket Publish(int i, MqttQos qos, ushort packetId, string? payload = null) => new()
    {
        Topic = "t",
        Payload = System.Text.Encoding.UTF8.GetBytes(payload ?? "m" + i),
        Qos = qos,
        PacketId = packetId,
    };

    [Fact]
    public async Task Qos1_SubscriberFallsBehind_PublisherPausesUntilItCatchesUp_NothingDropped()
    {
        // A queue of 8 behind a window of 2: without back-pressure, 40 messages sent at once would drop 30.
        await using var broker = new TestBroker((_, session, _, _) =>
        {
            session.MaxMqueueLength = 8;
            session.MaxInflight = 2;
        });
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t", MqttQos.AtLeastOnce);
        var pub = await broker.ConnectAsync("pub");

        for (var i = 1; i <= 40; i++)
            await pub.SendAsync(Publish(i, MqttQos.AtLeastOnce, (ushort)i));

        // 2 in flight, then the queue passes half of 8 with the 7th: that one is acknowledged, and the
        // publisher's connection reads nothing more until the subscriber catches up.
        for (var i = 1; i <= 7; i++)
            Assert.Equal(i, (await pub.ReceiveAsync<MqttAckPacket>()).PacketId);
        Assert.Equal(7, broker.Engine.Metrics.MessagesReceived);
        Assert.Equal(1, broker.Engine.Metrics.PublisherPauses);

        var received = new List<string>();
        while (received.Count < 40)
        {
            var publish = await sub.ReceivePublishAsync();
            received.Add(System.Text.Encoding.UTF8.GetString(publish.Payload.Span));
            await sub.AckAsync(MqttPacketType.PubAck, publish.PacketId);
        }
        for (var i = 8; i <= 40; i++)
            Assert.Equal(i, (await pub.ReceiveAsync<MqttAckPacket>()).PacketId);

        Assert.Equal(Enumerable.Range(1, 40).Select(i => "m" + i), received);
        Assert.Equal(0, broker.Engine.Metrics.MessagesDropped);
    }

    /// <summary>
    /// A subscriber ("sub", queue of 8 behind a window of 2) that never acknowledges, and a publisher ("pub") that has
    /// sent 10 messages: 7 are acknowledged, then its connection waits for the subscriber.
    /// </summary>
    private static async Task<PipeMqttClient> PublisherWaitingForStuckSubscriberAsync(TestBroker broker)
    {
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t", MqttQos.AtLeastOnce);
        var pub = await broker.ConnectAsync("pub");
        for (var i = 1; i <= 10; i++)
            await pub.SendAsync(Publish(i, MqttQos.AtLeastOnce, (ushort)i));
        for (var i = 1; i <= 7; i++)
            Assert.Equal(i, (await pub.ReceiveAsync<MqttAckPacket>()).PacketId);
        return pub;
    }

    [Fact]
    public async Task Qos1_SubscriberNeverAcks_PublisherWaitsAtMostTheBackpressureTimeout()
    {
        await using var broker = new TestBroker((_, session, _, _) =>
        {
            session.MaxMqueueLength = 8;
            session.MaxInflight = 2;
            session.BackpressureTimeout = TimeSpan.FromSeconds(2);
        });
        var pub = await PublisherWaitingForStuckSubscriberAsync(broker);

        // A stuck subscriber holds each publish back by the timeout, no longer.
        for (var i = 8; i <= 10; i++)
        {
            broker.Time.Advance(TimeSpan.FromSeconds(2));
            Assert.Equal(i, (await pub.ReceiveAsync<MqttAckPacket>()).PacketId);
        }
        Assert.Equal(0, broker.Engine.Metrics.MessagesDropped);
    }

    // Issue 17 item 1: a publisher waiting for a subscriber that stays behind ends its wait the moment the subscriber
    // becomes slow (session.slow_subscriber_timeout), not after session.backpressure_timeout, even when nothing else
    // is delivered to it meanwhile; from then on nobody waits for it.
    [Fact]
    public async Task Qos1_SubscriberNeverAcks_WaitEndsWhenItBecomesSlow_NotAtTheBackpressureTimeout()
    {
        await using var broker = new TestBroker((_, session, _, _) =>
        {
            session.MaxMqueueLength = 8;
            session.MaxInflight = 2;
            session.BackpressureTimeout = TimeSpan.FromSeconds(30);
            session.SlowSubscriberTimeout = TimeSpan.FromSeconds(2);
        });
        var pub = await PublisherWaitingForStuckSubscriberAsync(broker);
        Assert.True(broker.Engine.Sessions.TryGet("sub", out var session));
        Assert.False(session.IsSlow);

        broker.Time.Advance(TimeSpan.FromSeconds(2));

        for (var i = 8; i <= 10; i++)
            Assert.Equal(i, (await pub.ReceiveAsync<MqttAckPacket>()).PacketId);
        Assert.True(session.IsSlow);
        Assert.Equal(1, broker.Engine.Metrics.SlowSubscribers);
        Assert.Equal(1, broker.Engine.Metrics.PublisherPauses);
    }

    [Fact]
    public async Task Qos1_OfflineSubscriber_NeverPausesThePublisher()
    {
        await using var broker = new TestBroker((_, session, _, _) => session.MaxMqueueLength = 4);
        var sub = await broker.ConnectAsync("sub", MqttProtocolVersion.V311, cleanStart: false);
        await sub.SubscribeAsync("t", MqttQos.AtLeastOnce);
        await sub.AbortAsync();
        var pub = await broker.ConnectAsync("pub");

        for (var i = 1; i <= 10; i++)
            await pub.PublishAsync("t", "m" + i, MqttQos.AtLeastOnce);

        Assert.Equal(0, broker.Engine.Metrics.PublisherPauses);
        Assert.Equal(6, broker.Engine.Metrics.MessagesQueueDropped);
    }

    [Fact]
    public async Task Qos0_ConnectionStopsReading_PublisherPausesInsteadOfDropping()
    {
        await using var broker = new TestBroker((_, session, _, _) => session.MaxQos0Backlog = 8);
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t", MqttQos.AtMostOnce);
        var pub = await broker.ConnectAsync("pub");
        sub.PauseReading();

        // 200 messages of 100 bytes fill the subscriber's 4 KB pipe (the writer stalls, the QoS 0 backlog grows)
        // but not the publisher's 64 KB one, so every send completes while the broker holds the publisher back.
        const int sent = 200;
        var payload = new string('x', 100);
        for (var i = 0; i < sent; i++)
            await pub.SendAsync(Publish(i, MqttQos.AtMostOnce, 0, payload));
        Assert.True(SpinWait.SpinUntil(() => broker.Engine.Metrics.PublisherPauses > 0, PipeMqttClient.DefaultTimeout),
            "the publisher was never paused");

        sub.ResumeReading();
        for (var received = 0; received < sent; received++)
            await sub.ReceivePublishAsync();
        Assert.Equal(0, broker.Engine.Metrics.MessagesDropped);
    }
}
