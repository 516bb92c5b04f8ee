using System.Text;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.AccessControl;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Broker.Core.Tests.AccessControl;

public sealed class BuiltinAccessControlTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public BuiltinAccessControlTests()
    {
        WriteUsers(("alice", "wonderland"));
        File.WriteAllText(AclPath, """
            {deny, {user, "alice"}, publish, ["forbidden/#"]}.
            {allow, all, pubsub, ["users/%u/#"]}.
            """);
    }

    public void Dispose() => _dir.Dispose();

    private string PasswdPath => _dir.File("passwd");

    private string AclPath => _dir.File("acl.conf");

    private void WriteUsers(params (string User, string Password)[] users)
    {
        var file = new PasswordFile(iterations: 1000);
        foreach (var (user, password) in users)
            file.Set(user, password);
        file.Save(PasswdPath);
    }

    private BuiltinAccessControl Create() => new(PasswdPath, AclPath, NullLogger.Instance, PasswordFileTestExtensions.Hasher);

    private static ClientAuthenticateContext Connect(string? username, string? password) => new()
    {
        Client = Clients.Make(username: username),
        Password = password is null ? null : Encoding.UTF8.GetBytes(password),
    };

    /// <summary>Authentication may wait for a hashing thread (never on the caller's).</summary>
    private static (HookResult Result, ClientAuthenticateContext Context) Authenticate(BuiltinAccessControl acl, ClientAuthenticateContext ctx)
    {
        return (acl.AuthenticateAsync(ctx).AsTask().GetAwaiter().GetResult(), ctx);
    }

    private static (HookResult Result, AuthorizationResult Decision) Authorize(BuiltinAccessControl acl, string? username,
        AuthorizationAction action, string topic)
    {
        var ctx = new ClientAuthorizeContext { Client = Clients.Make(username: username), Action = action, Topic = topic };
        return (Completed(acl.AuthorizeAsync(ctx)), ctx.Result);
    }

    /// <summary>Authorization must finish synchronously (no state machine on the hot path).</summary>
    private static HookResult Completed(ValueTask<HookResult> task)
    {
        Assert.True(task.IsCompletedSuccessfully);
        return task.Result;
    }

    [Fact]
    public void AuthenticateAsync_RightPassword_AllowsAndStops()
    {
        var (result, ctx) = Authenticate(Create(), Connect("alice", "wonderland"));

        Assert.Equal(HookResult.Stop, result);
        Assert.Equal(AuthenticationResult.Allow, ctx.Result);
    }

    [Theory]
    [InlineData("wrong")]
    [InlineData("")]
    [InlineData(null)]
    public void AuthenticateAsync_WrongPassword_DeniesWithBadUserNameOrPassword(string? password)
    {
        var ctx = Connect("alice", password);
        ctx.DenyReasonCode = MqttReasonCode.NotAuthorized;

        var (result, _) = Authenticate(Create(), ctx);

        Assert.Equal(HookResult.Stop, result);
        Assert.Equal(AuthenticationResult.Deny, ctx.Result);
        Assert.Equal(MqttReasonCode.BadUserNameOrPassword, ctx.DenyReasonCode);
    }

    [Fact]
    public void AuthenticateAsync_UnknownUserWithUsersInFile_DeniesAndStops()
    {
        var (result, ctx) = Authenticate(Create(), Connect("mallory", "wonderland"));

        Assert.Equal(HookResult.Stop, result);
        Assert.Equal(AuthenticationResult.Deny, ctx.Result);
    }

    [Fact]
    public void AuthenticateAsync_NoUsername_IgnoresAndContinues()
    {
        var (result, ctx) = Authenticate(Create(), Connect(null, "wonderland"));

        Assert.Equal(HookResult.Continue, result);
        Assert.Equal(AuthenticationResult.Ignore, ctx.Result);
    }

    [Fact]
    public void AuthenticateAsync_NoPasswordFile_IgnoresAndContinues()
    {
        File.Delete(PasswdPath);

        var (result, ctx) = Authenticate(Create(), Connect("alice", "wonderland"));

        Assert.Equal(HookResult.Continue, result);
        Assert.Equal(AuthenticationResult.Ignore, ctx.Result);
    }

    [Fact]
    public void AuthorizeAsync_AllowRuleMatches_AllowsAndStops()
    {
        Assert.Equal((HookResult.Stop, AuthorizationResult.Allow), Authorize(Create(), "bob", AuthorizationAction.Subscribe, "users/bob/#"));
    }

    [Fact]
    public void AuthorizeAsync_DenyRuleMatches_DeniesAndStops()
    {
        Assert.Equal((HookResult.Stop, AuthorizationResult.Deny), Authorize(Create(), "alice", AuthorizationAction.Publish, "forbidden/x"));
    }

    [Fact]
    public void AuthorizeAsync_NoRuleMatches_IgnoresAndContinues()
    {
        Assert.Equal((HookResult.Continue, AuthorizationResult.Ignore), Authorize(Create(), "bob", AuthorizationAction.Publish, "users/alice/x"));
    }

    [Fact]
    public void AuthorizeAsync_NoClient_IgnoresAndContinues()
    {
        var ctx = new ClientAuthorizeContext { Action = AuthorizationAction.Publish, Topic = "forbidden/x" };

        Assert.Equal(HookResult.Continue, Completed(Create().AuthorizeAsync(ctx)));
        Assert.Equal(AuthorizationResult.Ignore, ctx.Result);
    }

    [Fact]
    public void AuthorizeAsync_SameConnectionAgain_DecidesForEachTopicAndAction()
    {
        // The decision is remembered on the connection's ClientInfo; a different topic or action must not reuse it.
        var acl = Create();
        var alice = Clients.Make(username: "alice");
        AuthorizationResult Decide(AuthorizationAction action, string topic)
        {
            var ctx = new ClientAuthorizeContext { Client = alice, Action = action, Topic = topic };
            Completed(acl.AuthorizeAsync(ctx));
            return ctx.Result;
        }

        Assert.Equal(AuthorizationResult.Deny, Decide(AuthorizationAction.Publish, "forbidden/x"));
        Assert.Equal(AuthorizationResult.Deny, Decide(AuthorizationAction.Publish, "forbidden/x"));
        Assert.Equal(AuthorizationResult.Ignore, Decide(AuthorizationAction.Subscribe, "forbidden/x"));
        Assert.Equal(AuthorizationResult.Allow, Decide(AuthorizationAction.Publish, "users/alice/x"));
        Assert.Equal(AuthorizationResult.Deny, Decide(AuthorizationAction.Publish, "forbidden/x"));
        Assert.Equal(AuthorizationResult.Deny, Authorize(acl, "alice", AuthorizationAction.Publish, "forbidden/x").Decision);
        Assert.Equal(AuthorizationResult.Ignore, Authorize(acl, "bob", AuthorizationAction.Publish, "forbidden/x").Decision);
    }

    [Fact]
    public void Reload_AConnectionDecidedBefore_GetsTheNewRulesDecision()
    {
        var acl = Create();
        var bob = Clients.Make(username: "bob");
        var ctx = new ClientAuthorizeContext { Client = bob, Action = AuthorizationAction.Publish, Topic = "users/bob/x" };
        Completed(acl.AuthorizeAsync(ctx));
        Assert.Equal(AuthorizationResult.Allow, ctx.Result);
        File.WriteAllText(AclPath, "{deny, all}.");

        acl.Reload();

        ctx = new ClientAuthorizeContext { Client = bob, Action = AuthorizationAction.Publish, Topic = "users/bob/x" };
        Completed(acl.AuthorizeAsync(ctx));
        Assert.Equal(AuthorizationResult.Deny, ctx.Result);
    }

    [Fact]
    public void Reload_ChangedFiles_TakeEffect()
    {
        var acl = Create();
        Assert.Equal((2, 1), (acl.RuleCount, acl.UserCount));
        WriteUsers(("bob", "builder"), ("carol", "singer"));
        File.WriteAllText(AclPath, "{deny, all}.");

        acl.Reload();

        Assert.Equal((1, 2), (acl.RuleCount, acl.UserCount));

        Assert.Equal(AuthenticationResult.Deny, Authenticate(acl, Connect("alice", "wonderland")).Context.Result);
        Assert.Equal(AuthenticationResult.Allow, Authenticate(acl, Connect("bob", "builder")).Context.Result);
        Assert.Equal(AuthorizationResult.Deny, Authorize(acl, "bob", AuthorizationAction.Subscribe, "users/bob/#").Decision);
    }

    [Fact]
    public void Reload_BrokenAclFile_ThrowsAndKeepsPreviousState()
    {
        var acl = Create();
        WriteUsers(("bob", "builder"));
        File.WriteAllText(AclPath, "{allow, nobody}.");

        var e = Assert.Throws<AccessFileException>(acl.Reload);

        Assert.Equal(1, e.Line);
        Assert.Equal(2, acl.RuleCount);
        Assert.Equal(AuthenticationResult.Allow, Authenticate(acl, Connect("alice", "wonderland")).Context.Result);
        Assert.Equal(AuthorizationResult.Allow, Authorize(acl, "bob", AuthorizationAction.Subscribe, "users/bob/#").Decision);
    }

    [Fact]
    public void Constructor_EmptyPaths_MeanNoUsersAndNoRules()
    {
        var acl = new BuiltinAccessControl("", "", NullLogger.Instance, PasswordFileTestExtensions.Hasher);

        Assert.Equal(HookResult.Continue, Authenticate(acl, Connect("alice", "x")).Result);
        Assert.Equal(HookResult.Continue, Authorize(acl, "alice", AuthorizationAction.Publish, "t").Result);
    }
}
