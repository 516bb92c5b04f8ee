using Broker.Abstractions.Plugins;
using Broker.Core.Plugins;
using Xunit;

namespace Broker.Core.Tests.Plugins;

/// <summary>Plugins' HTTP endpoints (SDK 1.5): patterns, values, and their end with the registration or the plugin.</summary>
public sealed class PluginEndpointsTests
{
    private static ValueTask<PluginHttpResponse> Answer(string text) => ValueTask.FromResult(PluginHttpResponse.Text(text));

    [Theory]
    [InlineData("GET", "users", "list", "")]
    [InlineData("get", "users/alice", "one", "name=alice")]
    [InlineData("GET", "files/a/b/c.txt", "rest", "path=a/b/c.txt")]
    [InlineData("DELETE", "users/alice", "delete", "name=alice")]
    public async Task TryMatch_PatternsLiteralParametersAndRest(string method, string path, string expected, string values)
    {
        var endpoints = new PluginEndpoints();
        using var scope = endpoints.For("auth");
        scope.Map("GET", "users", (_, _) => Answer("list"));
        scope.Map("GET", "users/{name}", (_, _) => Answer("one"));
        scope.Map("DELETE", "/users/{name}/", (_, _) => Answer("delete"));
        scope.Map("GET", "files/{**path}", (_, _) => Answer("rest"));

        Assert.True(endpoints.TryMatch("auth", method, path, out var handler, out var matched));
        Assert.Equal(expected, System.Text.Encoding.UTF8.GetString((await handler!(null!, TestContext.Current.CancellationToken)).Body.Span));
        Assert.Equal(values, string.Join(",", matched.Select(kv => $"{kv.Key}={kv.Value}")));
    }

    [Fact]
    public void TryMatch_OtherPluginMethodOrLength_NoMatch()
    {
        var endpoints = new PluginEndpoints();
        using var scope = endpoints.For("auth");
        scope.Map("GET", "users/{name}", (_, _) => Answer("one"));

        Assert.False(endpoints.TryMatch("other", "GET", "users/alice", out _, out _));
        Assert.False(endpoints.TryMatch("auth", "POST", "users/alice", out _, out _));
        Assert.False(endpoints.TryMatch("auth", "GET", "users/alice/extra", out _, out _));
        Assert.False(endpoints.TryMatch("auth", "GET", "users", out _, out _));
    }

    [Fact]
    public void Map_Twice_Refused_BadPatternsRefused_DisposeEndsOneOrAll()
    {
        var endpoints = new PluginEndpoints();
        var scope = endpoints.For("auth");
        var one = scope.Map("GET", "a", (_, _) => Answer("a"));
        scope.Map("GET", "b", (_, _) => Answer("b"));

        Assert.Throws<ArgumentException>(() => scope.Map("GET", "a", (_, _) => Answer("again")));
        Assert.Throws<ArgumentException>(() => scope.Map("GET", "x{y}", (_, _) => Answer("?")));
        Assert.Throws<ArgumentException>(() => scope.Map("GET", "{**rest}/more", (_, _) => Answer("?")));
        Assert.Equal(["GET a", "GET b"], endpoints.Describe("auth"));

        one.Dispose();
        Assert.Equal(["GET b"], endpoints.Describe("auth"));
        scope.Dispose();
        Assert.Empty(endpoints.Describe("auth"));
        Assert.False(endpoints.TryMatch("auth", "GET", "b", out _, out _));
        Assert.Throws<ObjectDisposedException>(() => scope.Map("GET", "c", (_, _) => Answer("c")));
    }

    [Fact]
    public async Task Map_SameEndpointFromANewInstance_TheNewerAnswers_UntilItGoes()
    {
        // A reload starts the new instance before the old one stops.
        var endpoints = new PluginEndpoints();
        var old = endpoints.For("auth");
        old.Map("GET", "status", (_, _) => Answer("old"));
        var fresh = endpoints.For("auth");
        fresh.Map("GET", "status", (_, _) => Answer("new"));

        Assert.True(endpoints.TryMatch("auth", "GET", "status", out var handler, out _));
        Assert.Equal("new", System.Text.Encoding.UTF8.GetString((await handler!(null!, TestContext.Current.CancellationToken)).Body.Span));
        Assert.Equal(["GET status"], endpoints.Describe("auth"));
        old.Dispose();
        Assert.True(endpoints.TryMatch("auth", "GET", "status", out _, out _));
        fresh.Dispose();
        Assert.False(endpoints.TryMatch("auth", "GET", "status", out _, out _));
    }

    // IPluginHttp.MapRoot (SDK 2.1): endpoints at /api/v4/<pattern>, never over the API's own paths or another plugin's.
    [Fact]
    public async Task MapRoot_MatchesDecodedSegments_RefusesTheApisAndOtherPluginsPaths_EndsWithTheScope()
    {
        var endpoints = new PluginEndpoints();
        endpoints.ReserveRoot(() => ["clients/{clientid}", "acl/reload", "routes/{**topic}", "plugins/{name}/api/{**path}"]);
        var scope = endpoints.For("auth_builtin");
        scope.MapRoot("GET", "auth_username/{username}", (_, _) => Answer("user"));
        scope.MapRoot("DELETE", "acl/username/{username}/topic/{**topic}", (_, _) => Answer("rule"));
        scope.MapRoot("GET", "acl", (_, _) => Answer("rules"));

        Assert.True(endpoints.TryMatchRoot("DELETE", ["acl", "username", "alice", "topic", "a/b", "c"], out var plugin, out var handler, out var values));
        Assert.Equal("auth_builtin", plugin);
        Assert.Equal("rule", System.Text.Encoding.UTF8.GetString((await handler!(null!, TestContext.Current.CancellationToken)).Body.Span));
        Assert.Equal("a/b/c", values["topic"]);
        Assert.False(endpoints.TryMatchRoot("POST", ["acl"], out _, out _, out _));
        Assert.False(endpoints.TryMatch("auth_builtin", "GET", "acl", out _, out _)); // not under the plugin's prefix
        Assert.Equal(["GET auth_username/{username}", "DELETE acl/username/{username}/topic/{**topic}", "GET acl"], endpoints.DescribeRoot("auth_builtin"));

        // The API's paths, whatever the method: a literal, a parameter or a rest segment that would reach one.
        Assert.Throws<ArgumentException>(() => scope.MapRoot("POST", "acl/reload", (_, _) => Answer("?")));
        Assert.Throws<ArgumentException>(() => scope.MapRoot("GET", "clients/{id}", (_, _) => Answer("?")));
        Assert.Throws<ArgumentException>(() => scope.MapRoot("GET", "{kind}/{name}", (_, _) => Answer("?")));
        Assert.Throws<ArgumentException>(() => scope.MapRoot("GET", "routes", (_, _) => Answer("?")));
        Assert.Throws<ArgumentException>(() => scope.MapRoot("GET", "{**everything}", (_, _) => Answer("?")));
        Assert.Throws<ArgumentException>(() => scope.MapRoot("GET", "acl", (_, _) => Answer("again")));
        // Another plugin: not the same method and path; another method or path is fine.
        var other = endpoints.For("auth_other");
        var ex = Assert.Throws<ArgumentException>(() => other.MapRoot("GET", "auth_username/{name}", (_, _) => Answer("?")));
        Assert.Contains("auth_builtin", ex.Message, StringComparison.Ordinal);
        using (other.MapRoot("PUT", "auth_username/{name}", (_, _) => Answer("put")))
            Assert.True(endpoints.TryMatchRoot("PUT", ["auth_username", "x"], out _, out _, out _));
        Assert.False(endpoints.TryMatchRoot("PUT", ["auth_username", "x"], out _, out _, out _));

        // A reload: the new instance maps the same paths, and answers.
        var fresh = endpoints.For("auth_builtin");
        fresh.MapRoot("GET", "acl", (_, _) => Answer("new rules"));
        Assert.True(endpoints.TryMatchRoot("GET", ["acl"], out _, out handler, out _));
        Assert.Equal("new rules", System.Text.Encoding.UTF8.GetString((await handler!(null!, TestContext.Current.CancellationToken)).Body.Span));
        scope.Dispose();
        fresh.Dispose();
        Assert.False(endpoints.TryMatchRoot("GET", ["acl"], out _, out _, out _));
        Assert.False(endpoints.TryMatchRoot("GET", ["auth_username", "alice"], out _, out _, out _));
        Assert.Empty(endpoints.DescribeRoot("auth_builtin"));
    }
}
