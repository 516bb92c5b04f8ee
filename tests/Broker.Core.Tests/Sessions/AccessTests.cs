using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Configuration;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Sessions;

/// <summary>Authentication and authorization as the engine applies them to connections.</summary>
public sealed class AccessTests
{
    private static TestBroker Closed() => new((_, _, access, _) => access.AllowAnonymous = false);

    private static ValueTask<HookResult> Stop() => ValueTask.FromResult(HookResult.Stop);

    private static ValueTask<HookResult> Continue() => ValueTask.FromResult(HookResult.Continue);

    [Theory]
    [InlineData(MqttProtocolVersion.V500, MqttReasonCode.NotAuthorized)]
    [InlineData(MqttProtocolVersion.V311, MqttReasonCode.NotAuthorized)] // return code 5
    public async Task Authenticate_NoAnonymousAndNoCallback_NotAuthorized(MqttProtocolVersion version, MqttReasonCode expected)
    {
        await using var broker = Closed();
        var client = broker.NewClient(version);

        var connack = await client.ConnectAsync(new MqttConnectPacket { ClientId = "c1" });

        // allow_anonymous = false and nobody recognised the client: 0x87 (5.0) / return code 5 (3.1.1), then close.
        Assert.Equal(expected, connack.ReasonCode);
        await client.WaitClosedAsync();
        Assert.Equal(0, broker.Engine.Sessions.Count);
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V500)]
    [InlineData(MqttProtocolVersion.V311)] // return code 4
    public async Task Authenticate_CallbackDenies_BadUserNameOrPassword(MqttProtocolVersion version)
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(HookPoints.ClientAuthenticate, c =>
        {
            c.Result = AuthenticationResult.Deny;
            return Stop();
        });
        var client = broker.NewClient(version);

        var connack = await client.ConnectAsync(new MqttConnectPacket { ClientId = "c1", Username = "u", Password = "bad"u8.ToArray() });

        // 0x86 (5.0) / return code 4 (3.1.1), even though anonymous clients would be allowed.
        Assert.Equal(MqttReasonCode.BadUserNameOrPassword, connack.ReasonCode);
        await client.WaitClosedAsync();
    }

    [Fact]
    public async Task Authenticate_CallbackAllows_ConnectsAndSeesCredentials()
    {
        await using var broker = Closed();
        string? seen = null;
        broker.Engine.Hooks.Register(HookPoints.ClientAuthenticate, c =>
        {
            seen = $"{c.Client!.Username}:{System.Text.Encoding.UTF8.GetString(c.Password!.Value.Span)}";
            c.Result = AuthenticationResult.Allow;
            return Stop();
        });

        await broker.ConnectAsync("c1", configure: c =>
        {
            c.Username = "user";
            c.Password = "secret"u8.ToArray();
        });

        Assert.Equal("user:secret", seen);
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V500)]
    [InlineData(MqttProtocolVersion.V311)]
    public async Task Authenticate_CallbackThrows_Denied(MqttProtocolVersion version)
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(HookPoints.ClientAuthenticate, _ => throw new InvalidOperationException("backend down"), 0, "auth_plugin");
        var client = broker.NewClient(version);

        var connack = await client.ConnectAsync(new MqttConnectPacket { ClientId = "c1" });

        // DESIGN §5: a failing access-control callback denies, never allows (even with allow_anonymous on).
        Assert.Equal(MqttReasonCode.BadUserNameOrPassword, connack.ReasonCode);
        Assert.Equal(1, broker.Engine.Hooks.Runner.TotalsOf("auth_plugin").Failures);
    }

    [Fact]
    public async Task Authenticate_CallbackExceedsHookTimeout_Denied()
    {
        await using var broker = new TestBroker((_, _, _, options) => options.HookTimeout = TimeSpan.FromSeconds(3));
        var never = new TaskCompletionSource<HookResult>();
        broker.Engine.Hooks.Register(HookPoints.ClientAuthenticate, _ => new ValueTask<HookResult>(never.Task), 0, "slow_plugin");
        var client = broker.NewClient();

        await client.SendAsync(new MqttConnectPacket { ClientId = "c1", ProtocolVersion = MqttProtocolVersion.V500 });
        await broker.Time.WaitForTimerAsync(TimeSpan.FromSeconds(3));
        broker.Time.Advance(TimeSpan.FromSeconds(3));

        // plugins.hook_timeout: an overrun counts as a failure, and a failed authentication denies.
        var connack = await client.ReceiveAsync<MqttConnAckPacket>();
        Assert.Equal(MqttReasonCode.BadUserNameOrPassword, connack.ReasonCode);
        Assert.Equal(1, broker.Engine.Hooks.Runner.TotalsOf("slow_plugin").Failures);
        await client.WaitClosedAsync();
    }

    [Fact]
    public async Task Authenticate_DenyReasonCodeChosenByCallback_Used()
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(HookPoints.ClientAuthenticate, c =>
        {
            c.Result = AuthenticationResult.Deny;
            c.DenyReasonCode = MqttReasonCode.Banned;
            return Stop();
        });

        await broker.ConnectAsync("c1", expect: MqttReasonCode.Banned);
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V500, MqttReasonCode.NotAuthorized)]
    [InlineData(MqttProtocolVersion.V311, MqttReasonCode.UnspecifiedError)] // 0x80 Failure
    public async Task Authorize_SubscribeDenied_SubAckRefusal(MqttProtocolVersion version, MqttReasonCode expected)
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(HookPoints.ClientAuthorize, c =>
        {
            if (c.Action == AuthorizationAction.Subscribe && c.Topic == "secret/#")
            {
                c.Result = AuthorizationResult.Deny;
                return Stop();
            }
            return Continue();
        });
        var client = await broker.ConnectAsync("c1", version);

        var suback = await client.SubscribeAsync("secret/#");
        Assert.Equal([expected], suback.ReasonCodes);

        var pub = await broker.ConnectAsync("pub");
        await pub.PublishAsync("secret/x", "x", MqttQos.AtLeastOnce);
        await client.AssertNothingReceivedAsync();
    }

    [Fact]
    public async Task Authorize_SharedSubscribe_CheckedAgainstFilterWithoutSharePrefix()
    {
        await using var broker = new TestBroker();
        var topics = new List<string>();
        broker.Engine.Hooks.Register(HookPoints.ClientAuthorize, c =>
        {
            topics.Add(c.Topic);
            return Continue();
        });
        // The registration re-authorizes existing subscriptions in the background: done before this one exists.
        await broker.Engine.Reauthorization.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken);
        var client = await broker.ConnectAsync("c1");

        await client.SubscribeAsync("$share/g/a/b");

        Assert.Equal(["a/b"], topics);
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V500, MqttReasonCode.NotAuthorized)]
    [InlineData(MqttProtocolVersion.V311, MqttReasonCode.Success)]
    public async Task Authorize_PublishDenied_NotDeliveredAndPublisherAcked(MqttProtocolVersion version, MqttReasonCode expected)
    {
        await using var broker = new TestBroker();
        var log = HookLog.Attach(broker.Engine);
        broker.Engine.Hooks.Register(HookPoints.ClientAuthorize, c =>
        {
            if (c.Action == AuthorizationAction.Publish)
            {
                c.Result = AuthorizationResult.Deny;
                return Stop();
            }
            return Continue();
        }, HookPriorities.ExternalAuth);
        var sub = await broker.ConnectAsync("sub");
        await sub.SubscribeAsync("t");
        var pub = await broker.ConnectAsync("pub", version);

        // 3.3.5 / 3.4.2.1: a denied PUBLISH is acknowledged (5.0 with 0x87) and not forwarded.
        var puback = await pub.PublishAsync("t", "x", MqttQos.AtLeastOnce);
        Assert.Equal(expected, puback!.ReasonCode);
        var pubrec = await pub.PublishAsync("t", "x", MqttQos.ExactlyOnce);
        Assert.Equal(expected, pubrec!.ReasonCode);
        await sub.AssertNothingReceivedAsync();
        Assert.Equal(2, log.Events.Count(e => e == "message.dropped:pub:t:not_authorized"));
        Assert.DoesNotContain(log.Events, e => e.StartsWith("message.publish", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Authorize_AclNoMatchDenyWithoutCallbacks_Denies()
    {
        await using var broker = new TestBroker((_, _, access, _) => access.AclNoMatch = AclNoMatch.Deny);
        var client = await broker.ConnectAsync("c1");

        // acl_nomatch = deny: with no callback deciding, subscribe and publish are refused.
        Assert.Equal([MqttReasonCode.NotAuthorized], (await client.SubscribeAsync("t")).ReasonCodes);
        Assert.Equal(MqttReasonCode.NotAuthorized, (await client.PublishAsync("t", "x", MqttQos.AtLeastOnce))!.ReasonCode);
    }

    [Fact]
    public async Task Authorize_CallbackThrows_Denied()
    {
        await using var broker = new TestBroker();
        broker.Engine.Hooks.Register(HookPoints.ClientAuthorize, _ => throw new InvalidOperationException("acl backend down"), 0, "acl_plugin");
        var client = await broker.ConnectAsync("c1");

        // DESIGN §5: for client.authorize a failure denies (acl_nomatch would have allowed).
        Assert.Equal([MqttReasonCode.NotAuthorized], (await client.SubscribeAsync("t")).ReasonCodes);
        Assert.Equal(1, broker.Engine.Hooks.Runner.TotalsOf("acl_plugin").Failures);
        // The connection survives the plugin's failure.
        await client.AssertNothingReceivedAsync();
    }

    [Fact]
    public async Task Authorize_Superuser_AllowedWithoutAsking()
    {
        await using var broker = new TestBroker((_, _, access, _) => access.AclNoMatch = AclNoMatch.Deny);
        broker.Engine.Hooks.Register(HookPoints.ClientAuthenticate, c =>
        {
            c.Result = AuthenticationResult.Allow;
            c.IsSuperuser = true;
            return Stop();
        });
        var client = await broker.ConnectAsync("admin");

        Assert.Equal([MqttReasonCode.GrantedQos1], (await client.SubscribeAsync("t")).ReasonCodes);
    }
}
