using Broker.Plugins.TopicRewrite;
using Broker.Protocol;

namespace Broker.Plugins.Tests.TopicRewrite;

/// <summary>Matching and rewriting, without a broker: what the hooks do to one topic.</summary>
public sealed class TopicRewritePluginTests
{
    private static RewriteRuleSet Rules(params string[] lines) =>
        RewriteRuleSet.Build(PluginConf.Bind<TopicRewriteOptions>("topic_rewrite", lines));

    private static string? Publish(RewriteRuleSet rules, string topic, string? clientId = "c1", string? username = "u1") =>
        new TopicRewritePlugin().TryRewrite(rules.Publish, topic, 0, clientId, username, isFilter: false);

    private static string? Subscribe(RewriteRuleSet rules, string filter, string? clientId = "c1", string? username = "u1") =>
        new TopicRewritePlugin().TryRewrite(rules.Subscribe, filter, MqttTopic.SharePrefixLength(filter), clientId, username, isFilter: true);

    [Fact]
    public void TryRewrite_EmqxDocumentationExample()
    {
        // The four rules of EMQX 4's topic rewrite documentation, with its worked examples.
        var rules = Rules(
            "rewrite.rule.1 = x/# ^x/y/(.+)$ z/y/$1",
            "rewrite.rule.2 = y/+/z/# ^y/(.+)/z/(.+)$ y/z/$2",
            "rewrite.rule.3 = x/y/# ^x/y/(.+)$ x/y/z/$1",
            "rewrite.rule.4 = y/# ^y/(.+)/z/(.+)$ y/z/$2");

        Assert.Equal("z/y/1", Publish(rules, "x/y/1"));   // rule 1
        Assert.Null(Publish(rules, "x/1/2"));             // rule 1's filter matches, its regex does not: unchanged, rule 3 is not tried
        Assert.Equal("y/z/b", Publish(rules, "y/a/z/b")); // rule 2
        Assert.Null(Publish(rules, "y/def"));             // rule 4's filter matches, its regex does not
        Assert.Null(Publish(rules, "q/r"));               // no filter matches
    }

    [Fact]
    public void TryRewrite_FirstMatchingFilterDecides_EvenWhenItsRegexDoesNotMatch()
    {
        var rules = Rules("rewrite.rule.1 = a/# ^a/only$ one", "rewrite.rule.2 = a/# ^a/(.+)$ two/$1");
        Assert.Equal("one", Publish(rules, "a/only"));
        Assert.Null(Publish(rules, "a/other"));
    }

    [Fact]
    public void TryRewrite_ClientIdAndUsername_AreSubstituted()
    {
        var rules = Rules("rewrite.rule.1 = in/# ^in/(.+)$ users/%u/clients/%c/$1");
        Assert.Equal("users/alice/clients/dev1/x/y", Publish(rules, "in/x/y", "dev1", "alice"));
    }

    [Fact]
    public void TryRewrite_UsernamePlaceholder_ClientWithoutUsername_LeavesTopic()
    {
        var rules = Rules("rewrite.rule.1 = in/# ^in/(.+)$ users/%u/$1");
        Assert.Null(Publish(rules, "in/x", "dev1", username: null));
    }

    [Fact]
    public void TryRewrite_PublishResultWithWildcard_LeavesTopic()
    {
        // A rule for all packets may produce a filter, valid for SUBSCRIBE, not for PUBLISH [MQTT-3.3.2-2];
        // so may a client id holding a wildcard.
        var rules = Rules("rewrite.rule.1 = a/# ^a/(.+)$ b/+/$1", "rewrite.rule.2 = c/# ^c/(.+)$ d/%c/$1");
        Assert.Null(Publish(rules, "a/x"));
        Assert.Equal("b/+/x", Subscribe(rules, "a/x"));
        Assert.Null(Publish(rules, "c/x", clientId: "bad#id"));
        Assert.Equal("d/good/x", Publish(rules, "c/x", clientId: "good"));
    }

    [Fact]
    public void TryRewrite_SharedSubscription_KeepsPrefix_RewritesTheRest()
    {
        var rules = Rules("rewrite.sub_rule.1 = old/# ^old/(.+)$ new/$1");
        Assert.Equal("$share/g1/new/a/#", Subscribe(rules, "$share/g1/old/a/#"));
        Assert.Equal("$queue/new/a", Subscribe(rules, "$queue/old/a"));
        Assert.Equal("new/a", Subscribe(rules, "old/a"));
        Assert.Null(Subscribe(rules, "$share/old/x")); // group "old", filter "x": no rule
    }

    [Fact]
    public void TryRewrite_PubRule_DoesNotTouchSubscribe_SubRule_DoesNotTouchPublish()
    {
        var rules = Rules("rewrite.pub_rule.1 = p/# ^p/(.+)$ pp/$1", "rewrite.sub_rule.1 = s/# ^s/(.+)$ ss/$1");
        Assert.Equal("pp/1", Publish(rules, "p/1"));
        Assert.Null(Subscribe(rules, "p/1"));
        Assert.Equal("ss/1", Subscribe(rules, "s/1"));
        Assert.Null(Publish(rules, "s/1"));
    }

    [Fact]
    public void TryRewrite_WildcardFilterRule_DoesNotMatchDollarTopics()
    {
        var rules = Rules("rewrite.rule.1 = # ^(.*)$ all/$1");
        Assert.Null(Publish(rules, "$SYS/x")); // [MQTT-4.7.2-1]
        Assert.Equal("all/x", Publish(rules, "x"));
    }

    [Fact]
    public void TryRewrite_CatastrophicRegex_TimesOut_LeavesTopic()
    {
        var rules = Rules("rewrite.regex_timeout = 10ms", "rewrite.rule.1 = evil/# ^evil/(a+)+$ x/$1");
        var topic = "evil/" + new string('a', 40) + "!";
        Assert.Null(Publish(rules, topic));
    }

    [Fact]
    public void TryRewrite_NoFilterMatches_AllocatesNothing()
    {
        var rules = Rules("rewrite.rule.1 = a/# ^a/(.+)$ b/$1", "rewrite.rule.2 = c/+/d ^c/(.+)/d$ e/$1");
        var plugin = new TopicRewritePlugin();
        plugin.TryRewrite(rules.Publish, "z/y/x", 0, "c1", "u1", isFilter: false); // warm up
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
            plugin.TryRewrite(rules.Publish, "z/y/x", 0, "c1", "u1", isFilter: false);
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
