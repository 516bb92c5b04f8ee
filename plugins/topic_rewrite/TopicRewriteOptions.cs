namespace Broker.Plugins.TopicRewrite;

/// <summary>
/// etc/plugins/topic_rewrite.conf: the regex timeout and the numbered rules <c>rewrite.rule.N</c>,
/// <c>rewrite.pub_rule.N</c> and <c>rewrite.sub_rule.N</c>, each <c>&lt;filter&gt; &lt;regex&gt; &lt;destination&gt;</c>.
/// </summary>
internal sealed class TopicRewriteOptions : IValidatableOptions
{
    private const string RuleShape = "<filter> <regex> <destination>, separated by spaces";

    /// <remarks>
    /// Default 100ms. Each rule's regex is compiled once at start with this match timeout, so a pathological
    /// expression (catastrophic backtracking) costs one publish at most this long; the topic is then left unchanged.
    /// </remarks>
    [ConfKey("rewrite.regex_timeout", "How long one rule's regular expression may take to match one topic; a match that takes longer leaves the topic unchanged (logged).",
        Unit = ConfUnit.Duration, Min = "1ms", Max = "10s")]
    public TimeSpan RegexTimeout { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <remarks>None by default.</remarks>
    [ConfList("rewrite.rule", "A rule for PUBLISH, SUBSCRIBE and UNSUBSCRIBE: " + RuleShape + ".", Example = "x/# ^x/y/(.+)$ z/y/$1")]
    public SortedDictionary<int, string> Rules { get; set; } = [];

    /// <remarks>None by default.</remarks>
    [ConfList("rewrite.pub_rule", "A rule for PUBLISH only: " + RuleShape + "; the destination must be a topic name.", Example = "devices/+/up ^devices/(.+)/up$ tenants/%u/devices/$1/up")]
    public SortedDictionary<int, string> PublishRules { get; set; } = [];

    /// <remarks>None by default.</remarks>
    [ConfList("rewrite.sub_rule", "A rule for SUBSCRIBE and UNSUBSCRIBE only: " + RuleShape + ".", Example = "cmd/# ^cmd/(.+)$ devices/%c/cmd/$1")]
    public SortedDictionary<int, string> SubscribeRules { get; set; } = [];

    /// <inheritdoc />
    public IEnumerable<(string Key, string Error)> Validate()
    {
        var errors = new List<(string Key, string Error)>();
        RewriteRuleSet.Build(this, errors);
        return errors;
    }
}
