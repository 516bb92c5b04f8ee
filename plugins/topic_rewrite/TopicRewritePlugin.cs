using Microsoft.Extensions.Logging;

namespace Broker.Plugins.TopicRewrite;

/// <summary>
/// EMQX 4's topic rewrite (<c>emqx_mod_rewrite</c>): ordered <c>&lt;filter&gt; &lt;regex&gt; &lt;destination&gt;</c> rules
/// rewrite the topic of a PUBLISH (hook <c>message.publish</c>) and the filters of a SUBSCRIBE and UNSUBSCRIBE
/// (<c>client.subscribe</c>, <c>client.unsubscribe</c>), all at <see cref="HookPriorities.TopicRewrite"/>, before every
/// other plugin looks at the topic.
/// </summary>
/// <remarks>
/// As in EMQX, the first rule (lowest N) whose filter matches the topic decides: if its regex matches, the topic
/// becomes its destination, otherwise the topic stays as it is and no later rule is tried. A hook point with no rule
/// is not registered at all, and a topic no filter matches costs one allocation-free filter comparison per rule.
/// Authorization: the broker checks a PUBLISH against the ACL before <c>message.publish</c>, so with the topic as
/// the client sent it (as EMQX 4 does), and a SUBSCRIBE after <c>client.subscribe</c>, so with the rewritten filter.
/// </remarks>
public sealed partial class TopicRewritePlugin : IBrokerPlugin
{
    /// <summary>Problems on the message path are logged the first time and every this many times after.</summary>
    private const int LogEvery = 100;

    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private RewriteRuleSet _rules = new([], []);
    private long _problems;

    /// <inheritdoc />
    public ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        _rules = RewriteRuleSet.Build(context.BindOptions<TopicRewriteOptions>());
        _logger = context.LoggerFactory.CreateLogger("Broker.Plugins.TopicRewrite");
        if (_rules.Publish.Length > 0)
            context.Hooks.Register(HookPoints.MessagePublish, OnPublish, HookPriorities.TopicRewrite);
        if (_rules.Subscribe.Length > 0)
        {
            context.Hooks.Register(HookPoints.ClientSubscribe, OnSubscribe, HookPriorities.TopicRewrite);
            context.Hooks.Register(HookPoints.ClientUnsubscribe, OnUnsubscribe, HookPriorities.TopicRewrite);
        }
        LogStarted(_logger, _rules.Publish.Length, _rules.Subscribe.Length);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask StopAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    private ValueTask<HookResult> OnPublish(MessagePublishContext hook)
    {
        var message = hook.Message;
        if (TryRewrite(_rules.Publish, message.Topic, 0, hook.Client?.ClientId ?? message.PublisherId, hook.Client?.Username, isFilter: false) is { } topic)
            hook.Message = message with { Topic = topic };
        return ValueTask.FromResult(HookResult.Continue);
    }

    private ValueTask<HookResult> OnSubscribe(ClientSubscribeContext hook)
    {
        var requests = hook.Subscriptions;
        for (var i = 0; i < requests.Count; i++)
        {
            var request = requests[i];
            if (TryRewriteFilter(request.TopicFilter, hook.Client) is { } filter)
                requests[i] = request with { TopicFilter = filter };
        }
        return ValueTask.FromResult(HookResult.Continue);
    }

    private ValueTask<HookResult> OnUnsubscribe(ClientUnsubscribeContext hook)
    {
        // The same rules as SUBSCRIBE, so unsubscribing from the filter the client subscribed to removes the
        // subscription the broker actually holds.
        var filters = hook.TopicFilters;
        for (var i = 0; i < filters.Count; i++)
        {
            if (TryRewriteFilter(filters[i], hook.Client) is { } filter)
                filters[i] = filter;
        }
        return ValueTask.FromResult(HookResult.Continue);
    }

    /// <summary>Rewrites the filter after any <c>$share/group/</c> or <c>$queue/</c> prefix, keeping the prefix.</summary>
    private string? TryRewriteFilter(string filter, ClientInfo? client) =>
        TryRewrite(_rules.Subscribe, filter, Topics.SharePrefixLength(filter), client?.ClientId, client?.Username, isFilter: true);

    /// <summary>
    /// The rewritten topic, or null to leave it alone. <paramref name="start"/> skips a share prefix. Allocates only
    /// when a rule's filter matches.
    /// </summary>
    internal string? TryRewrite(RewriteRule[] rules, string topic, int start, string? clientId, string? username, bool isFilter)
    {
        var subject = topic.AsSpan(start);
        foreach (var rule in rules)
        {
            if (!Topics.Matches(rule.Filter, subject))
                continue;
            var original = start == 0 ? topic : topic[start..];
            switch (rule.TryRewrite(original, clientId, username, out var rewritten))
            {
                case RewriteStatus.Rewritten:
                    if (isFilter ? !Topics.IsValidFilter(rewritten) : !Topics.IsValidName(rewritten))
                    {
                        if (ShouldLogProblem(out var count))
                            LogInvalidResult(_logger, rule.Key, original, rewritten, count);
                        return null;
                    }
                    LogRewritten(_logger, rule.Key, original, rewritten);
                    return start == 0 ? rewritten : string.Concat(topic.AsSpan(0, start), rewritten);
                case RewriteStatus.Timeout:
                    if (ShouldLogProblem(out var timeouts))
                        LogTimeout(_logger, rule.Key, original, rule.Regex.MatchTimeout, timeouts);
                    return null;
                case RewriteStatus.MissingPlaceholder:
                    LogMissingPlaceholder(_logger, rule.Key, original, clientId);
                    return null;
                default:
                    return null; // EMQX: the first rule whose filter matches decides, even when its regex does not
            }
        }
        return null;
    }

    private bool ShouldLogProblem(out long count)
    {
        count = Interlocked.Increment(ref _problems);
        return count % LogEvery == 1;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "topic_rewrite: {PublishRules} rule(s) for PUBLISH, {SubscribeRules} for SUBSCRIBE/UNSUBSCRIBE")]
    private static partial void LogStarted(ILogger logger, int publishRules, int subscribeRules);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "topic_rewrite: {Rule} rewrote {Topic} to {Rewritten}")]
    private static partial void LogRewritten(ILogger logger, string rule, string topic, string rewritten);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "topic_rewrite: {Rule} would rewrite {Topic} to {Rewritten}, which is not a valid topic here; left unchanged (problem {Count}, logged every 100th)")]
    private static partial void LogInvalidResult(ILogger logger, string rule, string topic, string rewritten, long count);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "topic_rewrite: {Rule}'s regex took longer than {Timeout} on {Topic}; left unchanged (problem {Count}, logged every 100th)")]
    private static partial void LogTimeout(ILogger logger, string rule, string topic, TimeSpan timeout, long count);

    [LoggerMessage(EventId = 5, Level = LogLevel.Debug, Message = "topic_rewrite: {Rule} needs a user name (%u) or client id (%c) that client {ClientId} does not have; {Topic} left unchanged")]
    private static partial void LogMissingPlaceholder(ILogger logger, string rule, string topic, string? clientId);
}
