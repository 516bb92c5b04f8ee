namespace Broker.Plugins.TopicRewrite;

/// <summary>
/// The [ConfKey] part of etc/plugins/topic_rewrite.conf. The rules themselves are numbered keys
/// (<c>rewrite.rule.N</c>, <c>rewrite.pub_rule.N</c>, <c>rewrite.sub_rule.N</c>) read by <see cref="RewriteRuleParser"/>.
/// </summary>
public sealed class TopicRewriteOptions
{
    /// <remarks>
    /// Default 100ms. Each rule's regex is compiled once at start with this match timeout, so a pathological
    /// expression (catastrophic backtracking) costs one publish at most this long; the topic is then left unchanged.
    /// </remarks>
    [ConfKey("rewrite.regex_timeout", "How long one rule's regular expression may take to match one topic; a match that takes longer leaves the topic unchanged (logged).",
        Unit = ConfUnit.Duration, Min = "1ms", Max = "10s")]
    public TimeSpan RegexTimeout { get; set; } = TimeSpan.FromMilliseconds(100);
}
