using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Sessions;

/// <summary>
/// The per-connection authorization cache (EMQX's ACL cache: enable_acl_cache, acl_cache_max_size, acl_cache_ttl):
/// the client.authorize chain runs once per topic and TTL, not per message; a change of the rules empties it.
/// </summary>
public sealed class AuthorizationCacheTests
{
    /// <summary>An authorize callback that counts its calls and denies "deny/..." topics, or throws while failing.</summary>
    private sealed class Counting
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public bool Failing { get; set; }

        public ValueTask<HookResult> AuthorizeAsync(ClientAuthorizeContext ctx)
        {
            Interlocked.Increment(ref _calls);
            if (Failing)
                throw new InvalidOperationException("backend down");
            ctx.Result = ctx.Topic.StartsWith("deny/", StringComparison.Ordinal) ? AuthorizationResult.Deny : AuthorizationResult.Allow;
            return ValueTask.FromResult(HookResult.Stop);
        }
    }

    private static async Task<(TestBroker, Counting, PipeMqttClient)> StartAsync(bool enabled = true)
    {
        var broker = new TestBroker((_, _, access, _) => access.EnableAclCache = enabled);
        var rule = new Counting();
        broker.Engine.Hooks.Register(HookPoints.ClientAuthorize, rule.AuthorizeAsync);
        return (broker, rule, await broker.ConnectAsync("pub"));
    }

    [Fact]
    public async Task Publish_SameTopicAgain_ChainAskedOncePerTopicUntilTtl()
    {
        var (broker, rule, client) = await StartAsync();
        await using var _ = broker;

        for (var i = 0; i < 5; i++)
        {
            await client.PublishAsync("a/b", qos: MqttQos.AtLeastOnce);
            Assert.Equal(MqttReasonCode.NotAuthorized, (await client.PublishAsync("deny/x", qos: MqttQos.AtLeastOnce))!.ReasonCode);
        }
        Assert.Equal(2, rule.Calls); // one per topic; the denial is cached too

        broker.Time.Advance(broker.Access.AclCacheTtl);
        await client.PublishAsync("a/b", qos: MqttQos.AtLeastOnce);
        Assert.Equal(3, rule.Calls);
    }

    [Fact]
    public async Task Publish_RulesChange_CacheEmptied()
    {
        var (broker, rule, client) = await StartAsync();
        await using var _ = broker;
        await client.PublishAsync("a/b", qos: MqttQos.AtLeastOnce);

        broker.Engine.InvalidateAuthorization(); // acl reload, a plugin loaded or unloaded, ctl acl cache clean
        await client.PublishAsync("a/b", qos: MqttQos.AtLeastOnce);

        Assert.Equal(2, rule.Calls);
    }

    [Fact]
    public async Task Publish_CallbackFailed_DeniedButNotCached()
    {
        var (broker, rule, client) = await StartAsync();
        await using var _ = broker;
        rule.Failing = true;
        Assert.Equal(MqttReasonCode.NotAuthorized, (await client.PublishAsync("a/b", qos: MqttQos.AtLeastOnce))!.ReasonCode);

        rule.Failing = false;
        var ack = await client.PublishAsync("a/b", qos: MqttQos.AtLeastOnce);

        // A backend's hiccup is not remembered for a minute: the next publish asks again and is allowed.
        Assert.NotEqual(MqttReasonCode.NotAuthorized, ack!.ReasonCode);
        Assert.Equal(2, rule.Calls);
    }

    [Fact]
    public async Task Publish_CacheOff_ChainAskedEveryTime()
    {
        var (broker, rule, client) = await StartAsync(enabled: false);
        await using var _ = broker;

        for (var i = 0; i < 3; i++)
            await client.PublishAsync("a/b", qos: MqttQos.AtLeastOnce);

        Assert.Equal(3, rule.Calls);
    }
}
