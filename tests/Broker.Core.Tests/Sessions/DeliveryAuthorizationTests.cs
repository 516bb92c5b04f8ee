using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Routing;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Sessions;

/// <summary>
/// Subscriptions whose filter the authorization rules allow only in part: granted, and each delivery checked through
/// <c>client.authorize</c> (a plugin's callback here; acl.conf goes through the same path, see the end-to-end tests).
/// </summary>
public sealed class DeliveryAuthorizationTests
{
    /// <summary>
    /// A plugin-style rule: "secret/#" may not be received; a subscription that overlaps it is granted with checks.
    /// Counts the delivery questions it was asked.
    /// </summary>
    private sealed class SecretRule(bool async = false)
    {
        private int _deliveryChecks;

        public int DeliveryChecks => Volatile.Read(ref _deliveryChecks);

        public HashSet<string> DeniedClients { get; } = [];

        public async ValueTask<HookResult> AuthorizeAsync(ClientAuthorizeContext ctx)
        {
            if (async)
                await Task.Yield();
            if (ctx.Action != AuthorizationAction.Subscribe)
                return HookResult.Continue;
            if (ctx.IsDelivery)
            {
                Interlocked.Increment(ref _deliveryChecks);
                var denied = ctx.Topic.StartsWith("secret/", StringComparison.Ordinal) && !AllowedHere(ctx.Client!);
                ctx.Result = denied ? AuthorizationResult.Deny : AuthorizationResult.Allow;
                return HookResult.Stop;
            }
            if (TopicFilterIsSecret(ctx.Topic))
                ctx.Result = AllowedHere(ctx.Client!) ? AuthorizationResult.Allow : AuthorizationResult.Deny;
            else
            {
                ctx.CheckDeliveries = ctx.Topic is "#" or "+/+" or "secret/+" or "+/x";
                ctx.Result = AuthorizationResult.Allow;
            }
            return HookResult.Stop;
        }

        private bool AllowedHere(ClientInfo client)
        {
            lock (DeniedClients)
                return !DeniedClients.Contains(client.ClientId);
        }

        private static bool TopicFilterIsSecret(string filter) => filter.StartsWith("secret/", StringComparison.Ordinal) && filter != "secret/+";
    }

    private static async Task<(TestBroker Broker, SecretRule Rule)> StartAsync(bool async = false, params string[] deniedClients)
    {
        var broker = new TestBroker();
        var rule = new SecretRule(async);
        foreach (var client in deniedClients)
            rule.DeniedClients.Add(client);
        broker.Engine.Hooks.Register(HookPoints.ClientAuthorize, rule.AuthorizeAsync);
        await WaitUntilAuthorizedAsync(broker);
        return (broker, rule);
    }

    /// <summary>Waits until every subscription has been authorized under the current rules (background pass).</summary>
    private static Task WaitUntilAuthorizedAsync(TestBroker broker) =>
        broker.Engine.Reauthorization.WaitAsync(PipeMqttClient.DefaultTimeout);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Subscribe_FilterPartlyDenied_GrantedAndDeniedTopicsWithheld(bool asyncCallback)
    {
        var (broker, rule) = await StartAsync(asyncCallback, "sub");
        await using var _ = broker;
        var dropped = new List<string>();
        broker.Engine.Hooks.Register(HookPoints.MessageDropped, c =>
        {
            lock (dropped)
                dropped.Add($"{c.Reason}:{c.Client?.ClientId}:{c.Message.Topic}");
            return ValueTask.FromResult(HookResult.Continue);
        });
        var subscriber = await broker.ConnectAsync("sub");
        var publisher = await broker.ConnectAsync("pub");

        var suback = await subscriber.SubscribeAsync("#", MqttQos.AtLeastOnce);
        await publisher.PublishAsync("secret/a", "1", MqttQos.AtLeastOnce);
        await publisher.PublishAsync("public/a", "2", MqttQos.AtLeastOnce);
        await publisher.PublishAsync("secret/b", "3", MqttQos.AtLeastOnce);
        await publisher.PublishAsync("public/b", "4", MqttQos.AtLeastOnce);

        // Granted at QoS 1; the two secret/ messages never arrive, the others do, in order.
        Assert.Equal([MqttReasonCode.GrantedQos1], suback.ReasonCodes);
        Assert.Equal("public/a", (await subscriber.ReceivePublishAsync()).Topic);
        Assert.Equal("public/b", (await subscriber.ReceivePublishAsync()).Topic);
        await subscriber.AssertNothingReceivedAsync();
        Assert.Equal(2, broker.Engine.Metrics.DeliveryNotAuthorized);
        lock (dropped)
            Assert.Equal(["not_authorized:sub:secret/a", "not_authorized:sub:secret/b"], dropped);
        Assert.Equal(4, rule.DeliveryChecks);
    }

    [Fact]
    public async Task Subscribe_FilterAllowedInFull_NoDeliveryIsChecked()
    {
        var (broker, rule) = await StartAsync(deniedClients: "sub");
        await using var _ = broker;
        var subscriber = await broker.ConnectAsync("sub");
        var publisher = await broker.ConnectAsync("pub");

        await subscriber.SubscribeAsync("public/#");
        await publisher.PublishAsync("public/a", qos: MqttQos.AtLeastOnce);

        // The subscribe decision covers every topic: the callback is not asked per message.
        Assert.Equal("public/a", (await subscriber.ReceivePublishAsync()).Topic);
        Assert.Equal(0, rule.DeliveryChecks);
    }

    [Fact]
    public async Task Subscribe_FilterDeniedInFull_Refused()
    {
        var (broker, _) = await StartAsync(deniedClients: "sub");
        await using var __ = broker;
        var subscriber = await broker.ConnectAsync("sub");

        var suback = await subscriber.SubscribeAsync("secret/#");

        Assert.Equal([MqttReasonCode.NotAuthorized], suback.ReasonCodes);
    }

    [Fact]
    public async Task Subscribe_OverlappingSubscriptionAllowedInFull_DeliveredWithoutCheck()
    {
        var (broker, rule) = await StartAsync(deniedClients: "sub");
        await using var _ = broker;
        var subscriber = await broker.ConnectAsync("sub");
        var publisher = await broker.ConnectAsync("pub");

        await subscriber.SubscribeAsync("#");
        await subscriber.SubscribeAsync("public/#");
        await publisher.PublishAsync("public/a", qos: MqttQos.AtLeastOnce);

        // One message (QoS aggregated over both subscriptions [MQTT-3.3.4-2]), unchecked: "public/#" allows all of it.
        Assert.Equal("public/a", (await subscriber.ReceivePublishAsync()).Topic);
        await subscriber.AssertNothingReceivedAsync();
        Assert.Equal(0, rule.DeliveryChecks);
    }

    [Fact]
    public async Task SharedSubscription_MemberMayNotReceive_AnotherMemberGetsTheMessage()
    {
        var (broker, _) = await StartAsync(deniedClients: "m1");
        await using var __ = broker;
        var m1 = await broker.ConnectAsync("m1");
        var m2 = await broker.ConnectAsync("m2");
        var publisher = await broker.ConnectAsync("pub");
        await m1.SubscribeAsync("$share/g/#");
        await m2.SubscribeAsync("$share/g/#");

        for (var i = 0; i < 10; i++)
            await publisher.PublishAsync("secret/" + i, qos: MqttQos.AtLeastOnce);

        // Every secret/ message goes to the member that may receive it, whichever member the strategy chose first.
        for (var i = 0; i < 10; i++)
        {
            var message = await m2.ReceivePublishAsync();
            Assert.Equal("secret/" + i, message.Topic);
            await m2.AckAsync(MqttPacketType.PubAck, message.PacketId);
        }
        await m1.AssertNothingReceivedAsync();
        Assert.Equal(0, broker.Engine.Metrics.DeliveryNotAuthorized);
    }

    [Fact]
    public async Task RetainedOnSubscribe_FilterPartlyDenied_DeniedRetainedWithheld()
    {
        var (broker, _) = await StartAsync(deniedClients: "sub");
        await using var __ = broker;
        // A retainer-style plugin that holds two retained messages.
        broker.Engine.Hooks.Register(HookPoints.SessionSubscribed, c =>
        {
            c.Deliver(new BrokerMessage { Topic = "secret/r", Payload = "s"u8.ToArray(), Qos = MqttQos.AtLeastOnce, Retain = true });
            c.Deliver(new BrokerMessage { Topic = "public/r", Payload = "p"u8.ToArray(), Qos = MqttQos.AtLeastOnce, Retain = true });
            return ValueTask.FromResult(HookResult.Continue);
        });
        var subscriber = await broker.ConnectAsync("sub");

        await subscriber.SubscribeAsync("#");

        var retained = await subscriber.ReceivePublishAsync();
        Assert.Equal(("public/r", true), (retained.Topic, retained.Retain));
        await subscriber.AssertNothingReceivedAsync();
        Assert.Equal(1, broker.Engine.Metrics.DeliveryNotAuthorized);
    }

    [Fact]
    public async Task RulesChange_SubscriptionGrantedInFull_FollowsTheNewRulesThenCostsNothingAgain()
    {
        await using var broker = new TestBroker();
        var subscriber = await broker.ConnectAsync("sub");
        var publisher = await broker.ConnectAsync("pub");
        await subscriber.SubscribeAsync("#");
        await publisher.PublishAsync("secret/a", "before", MqttQos.AtLeastOnce);
        Assert.Equal("before", System.Text.Encoding.UTF8.GetString((await subscriber.ReceivePublishAsync()).Payload.Span));

        // A plugin starts with rules that withhold secret/ from "sub": registering the callback changes the rules.
        var rule = new SecretRule();
        rule.DeniedClients.Add("sub");
        using (broker.Engine.Hooks.Register(HookPoints.ClientAuthorize, rule.AuthorizeAsync))
        {
            await publisher.PublishAsync("secret/a", "during", MqttQos.AtLeastOnce);
            await publisher.PublishAsync("public/a", "during", MqttQos.AtLeastOnce);
            Assert.Equal("public/a", (await subscriber.ReceivePublishAsync()).Topic);
            await WaitUntilAuthorizedAsync(broker);
            await publisher.PublishAsync("secret/b", "during", MqttQos.AtLeastOnce);
            await subscriber.AssertNothingReceivedAsync();
        }

        // The plugin is gone: its rule no longer applies, and once authorized again "#" is delivered unchecked.
        await WaitUntilAuthorizedAsync(broker);
        var checks = rule.DeliveryChecks;
        await publisher.PublishAsync("secret/a", "after", MqttQos.AtLeastOnce);
        Assert.Equal("secret/a", (await subscriber.ReceivePublishAsync()).Topic);
        Assert.Equal(checks, rule.DeliveryChecks);
        Assert.False(DeliveryAuthorization.IsNeeded(broker.Engine.Router.AuthorizedSubscriptions()[0].Authorization, broker.Engine.Router.AuthorizationEpoch));
    }

    [Fact]
    public async Task Superuser_SubscriptionChecked_EverythingDelivered()
    {
        var (broker, rule) = await StartAsync(deniedClients: "sub");
        await using var _ = broker;
        broker.Engine.Hooks.Register(HookPoints.ClientAuthenticate, c =>
        {
            c.Result = AuthenticationResult.Allow;
            c.IsSuperuser = true;
            return ValueTask.FromResult(HookResult.Stop);
        });
        var subscriber = await broker.ConnectAsync("sub");
        var publisher = await broker.ConnectAsync("pub");
        await subscriber.SubscribeAsync("#");

        // Even while the rules change (every subscription checked until authorized again), a superuser is not asked about.
        broker.Engine.InvalidateAuthorization();
        await publisher.PublishAsync("secret/a", qos: MqttQos.AtLeastOnce);

        Assert.Equal("secret/a", (await subscriber.ReceivePublishAsync()).Topic);
        Assert.Equal(0, rule.DeliveryChecks);
    }

    [Fact]
    public async Task RulesChangeTwiceDuringAPass_SubscriptionMadeUnderTheNewRules_NotAskedAgain()
    {
        await using var broker = new TestBroker();
        var asked = new Dictionary<string, int>();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holdSlow = false;
        broker.Engine.Hooks.Register(HookPoints.ClientAuthorize, async ctx =>
        {
            if (ctx.Action != AuthorizationAction.Subscribe || ctx.IsDelivery)
                return HookResult.Continue;
            lock (asked)
                asked[ctx.Client!.ClientId] = asked.GetValueOrDefault(ctx.Client!.ClientId) + 1;
            if (ctx.Client!.ClientId == "slow" && Volatile.Read(ref holdSlow))
            {
                entered.TrySetResult();
                await gate.Task;
            }
            ctx.Result = AuthorizationResult.Allow;
            return HookResult.Stop;
        });
        await WaitUntilAuthorizedAsync(broker);
        var slow = await broker.ConnectAsync("slow");
        await slow.SubscribeAsync("slow/t");

        // A pass held on the first subscription; the rules change again meanwhile, and a new SUBSCRIBE is decided
        // under the newest rules. The pass runs again for the change it missed, which the new subscription was not.
        Volatile.Write(ref holdSlow, true);
        broker.Engine.InvalidateAuthorization();
        await entered.Task.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken);
        broker.Engine.InvalidateAuthorization();
        var fresh = await broker.ConnectAsync("fresh");
        await fresh.SubscribeAsync("t");
        gate.SetResult();
        await WaitUntilAuthorizedAsync(broker);

        lock (asked)
        {
            Assert.Equal(1, asked["fresh"]);
            Assert.Equal(3, asked["slow"]); // its SUBSCRIBE, then once for each change
        }
        Assert.All(broker.Engine.Router.AuthorizedSubscriptions(),
            s => Assert.False(DeliveryAuthorization.IsNeeded(s.Authorization, broker.Engine.Router.AuthorizationEpoch)));
    }
}
