using System.Net;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Plugins.Auth;

namespace Broker.Plugins.Tests.Auth;

/// <summary>ACL rows in EMQX 4's shapes, judged in the order the backend returned them (issue 20 item 5).</summary>
public sealed class AclRuleSetTests
{
    private static readonly ClientInfo Alice = new()
    {
        ClientId = "dev-1",
        Username = "alice",
        RemoteEndPoint = new IPEndPoint(IPAddress.Parse("10.1.2.3"), 1234),
    };

    private static AclRule Row(bool allow, AclAccess access, string topic, string? ip = null, string? user = null, string? client = null) =>
        new() { Allow = allow, Access = access, Topic = topic, IpAddress = ip, Username = user, ClientId = client };

    [Fact]
    public void FirstMatchingRowDecides_InQueryOrder()
    {
        var acl = new AclRuleSet([Row(false, AclAccess.Publish, "a/secret", user: "alice"), Row(true, AclAccess.PubSub, "a/#", user: "$all")]);

        Assert.Equal(AuthorizationResult.Deny, acl.Check(Alice, AclAccess.Publish, "a/secret"));
        Assert.Equal(AuthorizationResult.Allow, acl.Check(Alice, AclAccess.Publish, "a/other"));
        Assert.Equal(AuthorizationResult.Ignore, acl.Check(Alice, AclAccess.Publish, "b"));
    }

    [Theory]
    [InlineData("10.1.2.3", null, null, true)]
    [InlineData("10.1.0.0/16", null, null, true)]
    [InlineData("10.2.0.0/16", null, null, false)]
    [InlineData(null, "alice", "dev-1", true)]
    [InlineData(null, "alice", "dev-2", false)]
    [InlineData(null, "bob", null, false)]
    [InlineData("10.9.9.9", "$all", null, true)]
    public void Who_EveryGivenFieldMustMatch_DollarAllMatchesEveryone(string? ip, string? user, string? client, bool about)
    {
        var acl = new AclRuleSet([Row(true, AclAccess.Publish, "t", ip, user, client)]);
        Assert.Equal(about ? AuthorizationResult.Allow : AuthorizationResult.Ignore, acl.Check(Alice, AclAccess.Publish, "t"));
    }

    [Fact]
    public void EqAndPlaceholders()
    {
        var acl = new AclRuleSet([Row(true, AclAccess.Subscribe, "eq t/#"), Row(true, AclAccess.PubSub, "users/%u/%c/#")]);

        Assert.Equal(AuthorizationResult.Allow, acl.CheckSubscription(Alice, "t/#", out _));
        Assert.Equal(AuthorizationResult.Ignore, acl.CheckSubscription(Alice, "t/x", out _));
        Assert.Equal(AuthorizationResult.Allow, acl.Check(Alice, AclAccess.Publish, "users/alice/dev-1/x"));
        Assert.Equal(AuthorizationResult.Ignore, acl.Check(Alice, AclAccess.Publish, "users/bob/dev-1/x"));
    }

    [Fact]
    public void PlaceholderWithWildcardValue_Denies()
    {
        var acl = new AclRuleSet([Row(true, AclAccess.PubSub, "devices/%c/#")]);
        var sneaky = new ClientInfo { ClientId = "+", Username = "x" };

        Assert.Equal(AuthorizationResult.Deny, acl.Check(sneaky, AclAccess.Publish, "devices/other/x"));
        Assert.Equal(AuthorizationResult.Deny, acl.CheckSubscription(sneaky, "devices/+/x", out _));
    }

    [Fact]
    public void Subscribe_PartlyAllowedFilter_IsGrantedWithDeliveriesChecked()
    {
        var acl = new AclRuleSet([Row(false, AclAccess.Subscribe, "secret/#"), Row(true, AclAccess.Subscribe, "#")]);

        Assert.Equal(AuthorizationResult.Allow, acl.CheckSubscription(Alice, "#", out var partial));
        Assert.True(partial);
        Assert.Equal(AuthorizationResult.Deny, acl.CheckSubscription(Alice, "secret/x", out partial));
        Assert.False(partial);
        Assert.Equal(AuthorizationResult.Deny, acl.Check(Alice, AclAccess.Subscribe, "secret/y"));
    }
}
