using Broker.Abstractions.Hooks;
using Broker.Core.AccessControl;
using Xunit;
using static Broker.Abstractions.Hooks.AuthorizationAction;
using static Broker.Abstractions.Hooks.AuthorizationResult;

namespace Broker.Core.Tests.AccessControl;

/// <summary>etc/acl.conf as shipped must parse and behave like EMQX 4's default acl.conf.</summary>
public sealed class ShippedAclConfTests
{
    private static readonly AclRules Shipped = AclRules.Load(Path.Combine(Repository.Root, "etc", "acl.conf"));

    [Fact]
    public void ShippedAclConf_Load_HasEmqxFourDefaultRules()
    {
        Assert.Equal(4, Shipped.Count);
    }

    [Theory]
    // {allow, {user, "dashboard"}, subscribe, ["$SYS/#"]}.
    [InlineData("dashboard", "10.0.0.5", Subscribe, "$SYS/#", Allow)]
    [InlineData("dashboard", "10.0.0.5", Subscribe, "$SYS/brokers/+/uptime", Allow)]
    [InlineData("dashboard", "10.0.0.5", Subscribe, "#", Deny)]
    // {allow, {ipaddr, "127.0.0.1"}, pubsub, ["$SYS/#", "#"]}.
    [InlineData(null, "127.0.0.1", Subscribe, "#", Allow)]
    [InlineData(null, "127.0.0.1", Subscribe, "$SYS/#", Allow)]
    [InlineData(null, "::ffff:127.0.0.1", Subscribe, "#", Allow)]
    [InlineData(null, "127.0.0.1", Publish, "$SYS/x", Allow)]
    // {deny, all, subscribe, ["$SYS/#", {eq, "#"}]}.
    [InlineData("alice", "10.0.0.5", Subscribe, "$SYS/#", Deny)]
    [InlineData("alice", "10.0.0.5", Subscribe, "$SYS/brokers", Deny)]
    [InlineData(null, "10.0.0.5", Subscribe, "#", Deny)]
    // {allow, all}.
    [InlineData(null, "10.0.0.5", Subscribe, "+/#", Allow)]
    [InlineData(null, "10.0.0.5", Subscribe, "a/#", Allow)]
    [InlineData(null, "10.0.0.5", Subscribe, "+/brokers", Allow)]
    [InlineData(null, "10.0.0.5", Publish, "a/b", Allow)]
    [InlineData(null, "10.0.0.5", Publish, "$SYS/x", Allow)]
    public void ShippedAclConf_Check_BehavesAsEmqxDefaults(string? username, string address, AuthorizationAction action,
        string topic, AuthorizationResult expected)
    {
        Assert.Equal(expected, Shipped.Check(Clients.Make(username: username, address: address), action, topic));
    }
}
