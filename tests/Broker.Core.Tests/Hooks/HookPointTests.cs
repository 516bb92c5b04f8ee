using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Hooks;

/// <summary>
/// Every hook point fires at its documented moment with its documented context, driven through real connections.
/// Each step of a scenario waits for its packets (the barrier), so the events of one step are complete before the
/// next begins and the recorded order is deterministic.
/// </summary>
public sealed class HookPointTests
{
    private static ValueTask<HookResult> Continue() => ValueTask.FromResult(HookResult.Continue);

    private static async Task<IReadOnlyList<string>> StepAsync(HookLog log, Func<Task> step)
    {
        log.Clear();
        await step();
        return log.Events;
    }

    [Fact]
    public async Task Scenario_ConnectSubscribePublishAckUnsubscribeDisconnect_EventsInOrder()
    {
        await using var broker = new TestBroker();
        var log = HookLog.Attach(broker.Engine);
        PipeMqttClient a = null!, b = null!;

        Assert.Equal(
            ["client.connect:a", "client.authenticate:a", "session.created:a", "client.connack:a:00", "client.connected:a:False"],
            await StepAsync(log, async () => a = await broker.ConnectAsync("a")));

        Assert.Equal(
            ["client.subscribe:a:t", "client.authorize:a:Subscribe:t", "session.subscribed:a::t:1:True"],
            await StepAsync(log, () => a.SubscribeAsync("t", MqttQos.AtLeastOnce)));

        Assert.Equal(
            ["client.connect:b", "client.authenticate:b", "session.created:b", "client.connack:b:00", "client.connected:b:False"],
            await StepAsync(log, async () => b = await broker.ConnectAsync("b")));

        MqttPublishPacket delivery = null!;
        Assert.Equal(
            ["client.authorize:b:Publish:t", "message.publish:b:t:1:False", "message.delivered:a:t"],
            await StepAsync(log, async () =>
            {
                await b.PublishAsync("t", "x", MqttQos.AtLeastOnce);
                delivery = await a.ReceivePublishAsync();
            }));

        Assert.Equal(
            ["message.acked:a:t"],
            await StepAsync(log, async () =>
            {
                await a.AckAsync(MqttPacketType.PubAck, delivery.PacketId);
                await a.AssertNothingReceivedAsync();
            }));

        Assert.Equal(
            ["client.subscribe:a:$share/g/s", "client.authorize:a:Subscribe:s", "session.subscribed:a:g:s:0:True"],
            await StepAsync(log, () => a.SubscribeAsync("$share/g/s", MqttQos.AtMostOnce)));

        Assert.Equal(
            ["client.unsubscribe:a:t,$share/g/s", "session.unsubscribed:a::t", "session.unsubscribed:a:g:s"],
            await StepAsync(log, async () =>
            {
                await a.SendAsync(new MqttUnsubscribePacket { PacketId = 50, TopicFilters = ["t", "$share/g/s"] });
                await a.ReceiveAsync<MqttUnsubAckPacket>();
            }));

        // b published to t before: its connection's ACL cache (enable_acl_cache) answers, client.authorize is not run.
        Assert.Equal(
            ["message.publish:b:t:0:False", "message.dropped::t:no_subscribers"],
            await StepAsync(log, async () => await b.PublishAsync("t")));

        Assert.Equal(
            ["session.terminated:b:normal", "client.disconnected:b:normal:00"],
            await StepAsync(log, () => b.DisconnectAsync()));

        Assert.Equal(
            ["session.terminated:a:normal", "client.disconnected:a:closed:80"],
            await StepAsync(log, () => a.AbortAsync()));
    }

    [Fact]
    public async Task Scenario_PersistentSessionResumeTakeoverDiscard_EventsInOrder()
    {
        await using var broker = new TestBroker();
        var log = HookLog.Attach(broker.Engine);
        var first = await broker.ConnectAsync("p", cleanStart: false, sessionExpiry: 300);

        Assert.Equal(
            ["client.disconnected:p:closed:80"],
            await StepAsync(log, () => first.AbortAsync()));

        PipeMqttClient second = null!;
        Assert.Equal(
            ["client.connect:p", "client.authenticate:p", "session.resumed:p", "client.connack:p:00", "client.connected:p:True"],
            await StepAsync(log, async () => second = await broker.ConnectAsync("p", cleanStart: false, sessionExpiry: 300)));

        PipeMqttClient third = null!;
        Assert.Equal(
            ["client.connect:p", "client.authenticate:p", "session.takenover:p", "client.disconnected:p:takenover:8E",
             "session.resumed:p", "client.connack:p:00", "client.connected:p:True"],
            await StepAsync(log, async () =>
            {
                third = await broker.ConnectAsync("p", cleanStart: false, sessionExpiry: 300);
                await second.WaitClosedAsync();
            }));

        Assert.Equal(
            ["client.connect:p", "client.authenticate:p", "session.takenover:p", "client.disconnected:p:takenover:8E",
             "session.discarded:p", "session.terminated:p:discarded", "session.created:p", "client.connack:p:00", "client.connected:p:False"],
            await StepAsync(log, async () =>
            {
                await broker.ConnectAsync("p", cleanStart: true, sessionExpiry: 300);
                await third.WaitClosedAsync();
            }));
    }

    [Fact]
    public async Task Scenarios_TogetherFireEveryHookPoint()
    {
        await using var broker = new TestBroker((_, session, _, _) => session.MaxMqueueLength = 1);
        var log = HookLog.Attach(broker.Engine);
        var a = await broker.ConnectAsync("a", cleanStart: false, sessionExpiry: 300);
        await a.SubscribeAsync("t");
        await a.SendAsync(new MqttUnsubscribePacket { PacketId = 60, TopicFilters = ["nothing"] });
        await a.ReceiveAsync<MqttUnsubAckPacket>();
        await a.SubscribeAsync("u");
        await a.SendAsync(new MqttUnsubscribePacket { PacketId = 61, TopicFilters = ["u"] });
        await a.ReceiveAsync<MqttUnsubAckPacket>();
        var b = await broker.ConnectAsync("b");
        await b.PublishAsync("t", "1", MqttQos.AtLeastOnce);
        var delivery = await a.ReceivePublishAsync();
        await a.AckAsync(MqttPacketType.PubAck, delivery.PacketId);
        await a.AbortAsync();
        await b.PublishAsync("t", "2", MqttQos.AtLeastOnce);
        await b.PublishAsync("t", "3", MqttQos.AtLeastOnce); // queue of 1: drops
        var a2 = await broker.ConnectAsync("a", cleanStart: false, sessionExpiry: 300);
        await broker.ConnectAsync("a", cleanStart: true);
        await a2.WaitClosedAsync();

        var fired = log.Events.Select(e => e[..e.IndexOf(':', StringComparison.Ordinal)]).ToHashSet();
        Assert.Equal(HookPoints.All.Select(p => p.Name).Order(), fired.Order());
    }

    [Fact]
    public async Task ClientConnect_Context_CarriesClientInfoAndProperties()
    {
        await using var broker = new TestBroker();
        ClientConnectContext? seen = null;
        broker.Engine.Hooks.Register(HookPoints.ClientConnect, c =>
        {
            seen = c;
            return Continue();
        });

        await broker.ConnectAsync("c1", cleanStart: false, configure: c =>
        {
            c.Username = "user";
            c.KeepAlive = 30;
            c.Properties = new MqttProperties { UserProperties = [new MqttUserProperty("k", "v")], SessionExpiryInterval = 5 };
        });

        Assert.NotNull(seen);
        var client = seen.Client!;
        Assert.Equal("c1", client.ClientId);
        Assert.Equal("user", client.Username);
        Assert.Equal(MqttProtocolVersion.V500, client.ProtocolVersion);
        Assert.Equal((ushort)30, client.KeepAlive);
        Assert.False(client.CleanStart);
        Assert.Equal("test", client.Listener);
        Assert.Equal(broker.Time.GetUtcNow(), client.ConnectedAt);
        Assert.NotNull(client.RemoteEndPoint);
        Assert.Equal([new MqttUserProperty("k", "v")], client.UserProperties);
        Assert.Equal(5u, seen.ConnectProperties!.SessionExpiryInterval);
    }

    [Fact]
    public async Task ClientConnect_CallbackReplacesProperties_BrokerUsesThem()
    {
        await using var broker = new TestBroker();
        var log = HookLog.Attach(broker.Engine);
        broker.Engine.Hooks.Register(HookPoints.ClientConnect, c =>
        {
            // HookPoints.ClientConnect: the CONNECT properties are the accumulator.
            c.ConnectProperties = new MqttProperties { SessionExpiryInterval = 60, ReceiveMaximum = 1 };
            return Continue();
        });
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t");
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("t", "1", MqttQos.AtLeastOnce);
        await pub.PublishAsync("t", "2", MqttQos.AtLeastOnce);

        // Receive Maximum 1 from the callback: one message in flight.
        Assert.Single(await sub.PingAsync());
        // Session Expiry Interval 60 from the callback: the session outlives the connection.
        await sub.AbortAsync();
        Assert.True(broker.Engine.Sessions.TryGet("sub", out _));
        Assert.DoesNotContain("session.terminated:sub:normal", log.Events);
    }

    [Fact]
    public async Task ClientConnack_CallbackAddsProperties_SentToClient()
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(HookPoints.ClientConnack, c =>
        {
            c.Properties ??= new MqttProperties();
            c.Properties.UserProperties = [new MqttUserProperty("node", "n1")];
            return Continue();
        });

        var client = await broker.ConnectAsync("c1");

        Assert.Equal([new MqttUserProperty("node", "n1")], client.ConnAck!.Properties!.UserProperties);
    }

    [Fact]
    public async Task ClientConnack_RefusedConnect_FiresWithRefusalCode()
    {
        await using var broker = new TestBroker((_, _, access, _) => access.AllowAnonymous = false);
        var log = HookLog.Attach(broker.Engine);

        await broker.ConnectAsync("c1", expect: MqttReasonCode.NotAuthorized);

        Assert.Contains("client.connack:c1:87", log.Events);
        Assert.DoesNotContain(log.Events, e => e.StartsWith("client.connected", StringComparison.Ordinal) || e.StartsWith("session.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ClientSubscribe_CallbackRewritesFilter_RewrittenFilterSubscribed()
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(HookPoints.ClientSubscribe, c =>
        {
            for (var i = 0; i < c.Subscriptions.Count; i++)
            {
                if (c.Subscriptions[i].TopicFilter == "old")
                    c.Subscriptions[i] = c.Subscriptions[i] with { TopicFilter = "new/+" };
            }
            return Continue();
        });
        var client = await broker.ConnectAsync("c1");
        await client.SubscribeAsync("old");
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("old");
        await pub.PublishAsync("new/x");

        Assert.Equal("new/x", (await client.ReceivePublishAsync()).Topic);
        await client.AssertNothingReceivedAsync();
    }

    [Fact]
    public async Task ClientSubscribe_CallbackRemovesEntry_SubAckCodesStayInPacketOrder()
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(HookPoints.ClientSubscribe, c =>
        {
            for (var i = c.Subscriptions.Count - 1; i >= 0; i--)
            {
                if (c.Subscriptions[i].TopicFilter.StartsWith("forbidden", StringComparison.Ordinal))
                    c.Subscriptions.RemoveAt(i);
            }
            return Continue();
        });
        var client = await broker.ConnectAsync("c1");

        await client.SendAsync(new MqttSubscribePacket
        {
            PacketId = 3,
            Subscriptions =
            [
                new MqttTopicSubscription("forbidden/a", MqttQos.AtLeastOnce),
                new MqttTopicSubscription("ok", MqttQos.ExactlyOnce),
                new MqttTopicSubscription("forbidden/b", MqttQos.AtMostOnce),
                new MqttTopicSubscription("fine", MqttQos.AtMostOnce),
            ],
        });

        // [MQTT-3.9.3-1]: the SUBACK's codes are in the order of the SUBSCRIBE's filters; HookPoints.ClientSubscribe:
        // a removed entry is answered with Unspecified Error.
        Assert.Equal(
            [MqttReasonCode.UnspecifiedError, MqttReasonCode.GrantedQos2, MqttReasonCode.UnspecifiedError, MqttReasonCode.GrantedQos0],
            (await client.ReceiveAsync<MqttSubAckPacket>()).ReasonCodes);
        Assert.Equal(["fine", "ok"], client.Channel.Session!.SubscriptionsSnapshot().Select(s => s.Key).Order());
    }

    [Fact]
    public async Task ClientUnsubscribe_CallbackRemovesEntry_UnsubAckCodesStayInPacketOrder()
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(HookPoints.ClientUnsubscribe, c =>
        {
            c.TopicFilters.Remove("keep");
            return Continue();
        });
        var client = await broker.ConnectAsync("c1");
        await client.SubscribeAsync("keep");
        await client.SubscribeAsync("drop");

        await client.SendAsync(new MqttUnsubscribePacket { PacketId = 4, TopicFilters = ["keep", "drop"] });

        // [MQTT-3.11.3-1]: the UNSUBACK's codes are in the order of the UNSUBSCRIBE's filters.
        Assert.Equal([MqttReasonCode.NoSubscriptionExisted, MqttReasonCode.Success], (await client.ReceiveAsync<MqttUnsubAckPacket>()).ReasonCodes);
        Assert.Equal(["keep"], client.Channel.Session!.SubscriptionsSnapshot().Select(s => s.Key));
    }

    [Fact]
    public async Task ClientUnsubscribe_CallbackRewritesFilters_RewrittenFilterRemoved()
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(HookPoints.ClientUnsubscribe, c =>
        {
            c.TopicFilters[0] = "real";
            return Continue();
        });
        var client = await broker.ConnectAsync("c1");
        await client.SubscribeAsync("real");

        await client.SendAsync(new MqttUnsubscribePacket { PacketId = 2, TopicFilters = ["alias"] });

        Assert.Equal([MqttReasonCode.Success], (await client.ReceiveAsync<MqttUnsubAckPacket>()).ReasonCodes);
        Assert.Empty(client.Channel.Session!.SubscriptionsSnapshot());
    }

    [Fact]
    public async Task SessionSubscribed_DeliverRetained_SentAfterSubAckWithRetainSet()
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(HookPoints.SessionSubscribed, c =>
        {
            Assert.True(c.IsNew);
            c.Deliver(new BrokerMessage { Topic = "r/1", Payload = "kept"u8.ToArray(), Qos = MqttQos.ExactlyOnce, Retain = true });
            return Continue();
        }, HookPriorities.Retainer);
        var client = await broker.ConnectAsync("c1");

        await client.SubscribeAsync("r/#", MqttQos.AtLeastOnce, subscriptionId: 4);

        // [MQTT-3.3.1-9] (5.0): a retained message sent for a new subscription has RETAIN set; QoS min(message, granted).
        var retained = await client.ReceivePublishAsync();
        Assert.True(retained.Retain);
        Assert.Equal(MqttQos.AtLeastOnce, retained.Qos);
        Assert.Equal([4u], retained.SubscriptionIdentifiers);
    }

    [Fact]
    public async Task MessagePublish_CallbackReplacesMessage_ChangedTopicIsRouted()
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(HookPoints.MessagePublish, c =>
        {
            if (c.Message.Topic == "raw")
                c.Message = c.Message with { Topic = "rewritten" };
            return Continue();
        }, HookPriorities.TopicRewrite);
        var log = HookLog.Attach(broker.Engine);
        var rawSub = await broker.ConnectAsync("raw-sub");
        await rawSub.SubscribeAsync("raw");
        var newSub = await broker.ConnectAsync("new-sub");
        await newSub.SubscribeAsync("rewritten");
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("raw", "x", MqttQos.AtLeastOnce);

        Assert.Equal("rewritten", (await newSub.ReceivePublishAsync()).Topic);
        await rawSub.AssertNothingReceivedAsync();
        // A lower-priority callback already sees the replacement.
        Assert.Contains("message.publish:pub:rewritten:1:False", log.Events);
    }

    [Fact]
    public async Task MessagePublish_RouteFalse_NotRoutedAndPublisherStillAcked()
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(HookPoints.MessagePublish, c =>
        {
            c.Route = false;
            c.ReasonCode = MqttReasonCode.NoMatchingSubscribers;
            return ValueTask.FromResult(HookResult.Stop);
        }, HookPriorities.DelayedPublish);
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t");
        var pub = await broker.ConnectAsync("pub");

        var puback = await pub.PublishAsync("t", "held", MqttQos.AtLeastOnce);
        var pubrec = await pub.PublishAsync("t", "held", MqttQos.ExactlyOnce);

        // HookPoints.MessagePublish: Route = false -> not routed; the publisher is acknowledged with the hook's code.
        Assert.Equal(MqttReasonCode.NoMatchingSubscribers, puback!.ReasonCode);
        Assert.Equal(MqttReasonCode.NoMatchingSubscribers, pubrec!.ReasonCode);
        await sub.AssertNothingReceivedAsync();
    }

    [Fact]
    public async Task MessagePublish_RefusedQos2_PacketIdIsFreeForTheNextMessage()
    {
        await using var broker = new TestBroker();
        var refuse = true;
        broker.Engine.Hooks.Register(HookPoints.MessagePublish, c =>
        {
            if (!Volatile.Read(ref refuse))
                return ValueTask.FromResult(HookResult.Continue);
            c.Route = false;
            c.ReasonCode = MqttReasonCode.TopicNameInvalid;
            return ValueTask.FromResult(HookResult.Stop);
        }, HookPriorities.DelayedPublish);
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t", MqttQos.ExactlyOnce);
        var pub = await broker.ConnectAsync("pub");

        await pub.SendAsync(new MqttPublishPacket { Topic = "t", Payload = "refused"u8.ToArray(), Qos = MqttQos.ExactlyOnce, PacketId = 7 });
        var pubrec = await pub.ReceiveAsync<MqttAckPacket>();
        Assert.Equal(MqttReasonCode.TopicNameInvalid, pubrec.ReasonCode);
        Volatile.Write(ref refuse, false);

        // 5.0 §4.3.3: after a PUBREC >= 0x80 no PUBREL comes, and a PUBLISH reusing the packet id is a new message,
        // not a resend to be acknowledged without routing.
        await pub.SendAsync(new MqttPublishPacket { Topic = "t", Payload = "accepted"u8.ToArray(), Qos = MqttQos.ExactlyOnce, PacketId = 7 });
        Assert.Equal(MqttReasonCode.Success, (await pub.ReceiveAsync<MqttAckPacket>()).ReasonCode);
        Assert.Equal("accepted"u8.ToArray(), (await sub.ReceivePublishAsync()).Payload.ToArray());
    }

    [Fact]
    public async Task MessagePublish_AsyncCallback_MessageStillRoutedAndAcked()
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(HookPoints.MessagePublish, async c =>
        {
            await Task.Yield();
            c.Message = c.Message with { Payload = "changed"u8.ToArray() };
            return HookResult.Continue;
        });
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t");
        var pub = await broker.ConnectAsync("pub");

        Assert.Equal(MqttReasonCode.Success, (await pub.PublishAsync("t", "x", MqttQos.AtLeastOnce))!.ReasonCode);
        Assert.Equal("changed"u8.ToArray(), (await sub.ReceivePublishAsync()).Payload.ToArray());
    }

    [Fact]
    public async Task MessagePublish_CallbackThrows_CountedAndConnectionKept()
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(HookPoints.MessagePublish, _ => throw new InvalidOperationException("plugin bug"), 0, "bad_plugin");
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t");
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("t", "1", MqttQos.AtLeastOnce);
        await pub.PublishAsync("t", "2", MqttQos.AtLeastOnce);

        // DESIGN §5: a throwing callback is logged and counted against its plugin; the broker keeps serving.
        Assert.Equal(2, broker.Engine.Hooks.Runner.TotalsOf("bad_plugin").Failures);
        Assert.Equal("1"u8.ToArray(), (await sub.ReceivePublishAsync()).Payload.ToArray());
        Assert.Equal("2"u8.ToArray(), (await sub.ReceivePublishAsync()).Payload.ToArray());
        await pub.AssertNothingReceivedAsync();
        Assert.False(pub.IsClosed);
    }

    [Fact]
    public async Task ConnectionHooks_CallbackThrows_ConnectionUnaffected()
    {
        await using var broker = new TestBroker();
        foreach (var point in new Action[]
        {
            () => broker.Engine.Hooks.Register(HookPoints.ClientConnect, _ => throw new InvalidOperationException(), 0, "bad"),
            () => broker.Engine.Hooks.Register(HookPoints.ClientConnected, _ => throw new InvalidOperationException(), 0, "bad"),
            () => broker.Engine.Hooks.Register(HookPoints.SessionCreated, _ => throw new InvalidOperationException(), 0, "bad"),
            () => broker.Engine.Hooks.Register(HookPoints.ClientSubscribe, _ => throw new InvalidOperationException(), 0, "bad"),
            () => broker.Engine.Hooks.Register(HookPoints.SessionSubscribed, _ => throw new InvalidOperationException(), 0, "bad"),
            () => broker.Engine.Hooks.Register(HookPoints.MessageDelivered, _ => throw new InvalidOperationException(), 0, "bad"),
            () => broker.Engine.Hooks.Register(HookPoints.MessageAcked, _ => throw new InvalidOperationException(), 0, "bad"),
        })
        {
            point();
        }
        var client = await broker.ConnectAsync("c1");
        Assert.Equal([MqttReasonCode.GrantedQos1], (await client.SubscribeAsync("t")).ReasonCodes);
        var pub = await broker.ConnectAsync("pub");
        await pub.PublishAsync("t", "x", MqttQos.AtLeastOnce);
        var delivery = await client.ReceivePublishAsync();
        await client.AckAsync(MqttPacketType.PubAck, delivery.PacketId);
        await client.AssertNothingReceivedAsync();

        // client.connect, session.created and client.connected fail once per connection.
        Assert.Equal(3 * 2 + 4, broker.Engine.Hooks.Runner.TotalsOf("bad").Failures);
    }

    [Fact]
    public async Task RemoveOwner_PluginCallbacks_NoLongerCalledByEngine()
    {
        await using var broker = new TestBroker();
        var calls = 0;
        var plugin = broker.Engine.Hooks.ForOwner("plugin_x");
        plugin.Register(HookPoints.MessagePublish, _ =>
        {
            Interlocked.Increment(ref calls);
            return Continue();
        });
        var pub = await broker.ConnectAsync("pub");
        await pub.PublishAsync("t");

        await broker.Engine.Hooks.RemoveOwnerAsync("plugin_x");
        await pub.PublishAsync("t");

        Assert.Equal(1, calls);
        Assert.True(broker.Engine.Hooks.MessagePublish.IsEmpty);
    }

    [Fact]
    public async Task MessageDropped_QueueFull_FiredWithSubscriberAndReason()
    {
        await using var broker = new TestBroker((_, session, _, _) => session.MaxMqueueLength = 1);
        var dropped = new List<MessageDroppedContext>();
        broker.Engine.Hooks.Register(HookPoints.MessageDropped, c =>
        {
            lock (dropped)
                dropped.Add(c);
            return Continue();
        });
        var sub = await broker.ConnectAsync("sub", cleanStart: false, sessionExpiry: 60);
        await sub.SubscribeAsync("t");
        await sub.AbortAsync();
        var pub = await broker.ConnectAsync("pub");

        await pub.PublishAsync("t", "1", MqttQos.AtLeastOnce);
        await pub.PublishAsync("t", "2", MqttQos.AtLeastOnce);

        var drop = Assert.Single(dropped);
        Assert.Equal("queue_full", drop.Reason);
        Assert.Equal("sub", drop.Client!.ClientId);
        Assert.Equal("1"u8.ToArray(), drop.Message.Payload.ToArray()); // drop_oldest
    }

    [Fact]
    public async Task MessagePublish_FromPlugin_RunsWithoutClientAndRoutes()
    {
        await using var broker = new TestBroker();
        MessagePublishContext? seen = null;
        broker.Engine.Hooks.Register(HookPoints.MessagePublish, c =>
        {
            seen = c;
            return Continue();
        });
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("plugin/t");

        var outcome = await broker.Engine.PublishAsync(new BrokerMessage { Topic = "plugin/t", Payload = "p"u8.ToArray(), Qos = MqttQos.AtLeastOnce }, null);

        // HookContext.Client is null only for messages published by the broker or a plugin.
        Assert.NotNull(seen);
        Assert.Null(seen.Client);
        Assert.Equal(1, outcome.Deliveries);
        Assert.Equal("plugin/t", (await sub.ReceivePublishAsync()).Topic);
    }
}
