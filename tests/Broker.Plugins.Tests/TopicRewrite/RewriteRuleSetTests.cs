using Broker.Abstractions.Plugins;
using Broker.Plugins.TopicRewrite;

namespace Broker.Plugins.Tests.TopicRewrite;

/// <summary>
/// Reading rewrite.rule.N / pub_rule.N / sub_rule.N from topic_rewrite.conf: numbered entries bound by the SDK's
/// [ConfList], each rule compiled and checked by <see cref="TopicRewriteOptions.Validate"/>.
/// </summary>
public sealed class RewriteRuleSetTests
{
    private static RewriteRuleSet Parse(params string[] lines) =>
        RewriteRuleSet.Build(PluginConf.Bind<TopicRewriteOptions>("topic_rewrite", lines));

    private static string ParseError(params string[] lines) =>
        Assert.Throws<PluginConfigurationException>(() => Parse(lines)).Message;

    [Fact]
    public void Parse_NoRules_IsEmpty()
    {
        var rules = Parse("# nothing", "rewrite.regex_timeout = 50ms");
        Assert.Empty(rules.Publish);
        Assert.Empty(rules.Subscribe);
    }

    [Fact]
    public void Parse_Scopes_GoToTheirPacketKinds_InNumericOrder()
    {
        var rules = Parse(
            "rewrite.rule.10 = a/# ^a/(.+)$ b/$1",
            "rewrite.pub_rule.2 = p/# ^p/(.+)$ q/$1",
            "rewrite.sub_rule.2 = s/# ^s/(.+)$ t/$1",
            "rewrite.rule.9 = x/# ^x/(.+)$ y/$1");

        Assert.Equal(["rewrite.pub_rule.2", "rewrite.rule.9", "rewrite.rule.10"], rules.Publish.Select(r => r.Key));
        Assert.Equal(["rewrite.sub_rule.2", "rewrite.rule.9", "rewrite.rule.10"], rules.Subscribe.Select(r => r.Key));
        Assert.Equal(TimeSpan.FromMilliseconds(100), rules.Publish[0].Regex.MatchTimeout);
    }

    [Fact]
    public void Parse_TabsAndSeveralSpaces_SeparateTheParts()
    {
        var rule = Assert.Single(Parse("rewrite.rule.1 =  a/#\t^a/(.+)$    b/$1").Publish);
        Assert.Equal("a/#", rule.Filter);
        Assert.Equal("^a/(.+)$", rule.Regex.ToString());
        Assert.Equal("b/$1", rule.Destination);
    }

    [Theory]
    [InlineData("rewrite.rule.1 = a/# ^a/(.+)$", "rewrite.rule.1 = \"a/# ^a/(.+)$\": expected three parts")]
    [InlineData("rewrite.rule.1 = a/# ^a/(.+)$ b/$1 extra", "found 4")]
    [InlineData("rewrite.rule.1 = a/#/b ^a$ b", "filter 'a/#/b' is not a valid topic filter")]
    [InlineData("rewrite.rule.1 = a/b+ ^a$ b", "filter 'a/b+' is not a valid topic filter")]
    [InlineData("rewrite.rule.1 = $share/g/a ^a$ b", "$share/$queue prefix")]
    [InlineData("rewrite.rule.1 = a/# ^a/(.+$ b/$1", "regex '^a/(.+$' is invalid")]
    [InlineData("rewrite.rule.1 = a/# ^a/(.+)$ b/$2", "uses $2 but the regex has 1 capture group(s)")]
    [InlineData("rewrite.rule.1 = a/# ^a/(.+)$ b/#/$1", "destination 'b/#/$1' is not a valid topic")]
    [InlineData("rewrite.pub_rule.1 = a/# ^a/(.+)$ b/+/$1", "a pub_rule must produce a topic name")]
    [InlineData("rewrite.rule.x = a/# ^a$ b", "N must be a whole number from 1")]
    [InlineData("rewrite.rule.0 = a/# ^a$ b", "N must be a whole number from 1")]
    [InlineData("rewrite.rules.1 = a/# ^a$ b", "unknown key")]
    [InlineData("rule.1 = a/# ^a$ b", "unknown key")]
    public void Parse_BadLine_NamesFileLineKeyAndProblem(string line, string problem)
    {
        var message = ParseError("# topic_rewrite.conf", line);
        var key = line[..line.IndexOf(' ', StringComparison.Ordinal)];
        Assert.Contains($"topic_rewrite.conf:2: {key}", message, StringComparison.Ordinal);
        Assert.Contains(problem, message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_SeveralBadLines_AreAllReported()
    {
        var message = ParseError("rewrite.rule.1 = a", "rewrite.rule.2 = a/# ^a/(.+)$ b/$1", "rewrite.sub_rule.3 = a/# ( b");
        Assert.Contains("topic_rewrite.conf:1: rewrite.rule.1", message, StringComparison.Ordinal);
        Assert.Contains("topic_rewrite.conf:3: rewrite.sub_rule.3", message, StringComparison.Ordinal);
        Assert.DoesNotContain("rewrite.rule.2", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_RuleAndPubRuleWithTheSameNumber_IsAnError_PubAndSubRuleAreNot()
    {
        Assert.Contains("has the same number", ParseError("rewrite.rule.1 = a/# ^a$ b", "rewrite.pub_rule.1 = c/# ^c$ d"), StringComparison.Ordinal);
        Assert.Contains("has the same number", ParseError("rewrite.sub_rule.4 = a/# ^a$ b", "rewrite.rule.4 = c/# ^c$ d"), StringComparison.Ordinal);
        var rules = Parse("rewrite.pub_rule.1 = a/# ^a$ b", "rewrite.sub_rule.1 = c/# ^c$ d");
        Assert.Single(rules.Publish);
        Assert.Single(rules.Subscribe);
    }
}
