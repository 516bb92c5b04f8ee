using System.Text.RegularExpressions;

namespace Broker.Plugins.TopicRewrite;

/// <summary>The rules for each kind of packet, each list in ascending N.</summary>
/// <param name="Publish"><c>rewrite.rule.N</c> and <c>rewrite.pub_rule.N</c>.</param>
/// <param name="Subscribe"><c>rewrite.rule.N</c> and <c>rewrite.sub_rule.N</c>, for SUBSCRIBE and UNSUBSCRIBE.</param>
internal sealed record RewriteRuleSet(RewriteRule[] Publish, RewriteRule[] Subscribe)
{
    /// <summary>
    /// Compiles every rule of <paramref name="options"/>. A rule that does not compile, or shares its N with a
    /// <c>rule.N</c> (their order would be left to chance), adds its key and problem to <paramref name="errors"/> and is
    /// left out (<see cref="TopicRewriteOptions.Validate"/> reports them; the plugin starts only without any).
    /// </summary>
    public static RewriteRuleSet Build(TopicRewriteOptions options, List<(string Key, string Error)>? errors = null)
    {
        var rules = new List<RewriteRule>();
        foreach (var (kind, scope, entries) in new[]
        {
            ("rule", RuleScope.All, options.Rules),
            ("pub_rule", RuleScope.Publish, options.PublishRules),
            ("sub_rule", RuleScope.Subscribe, options.SubscribeRules),
        })
        {
            foreach (var (n, value) in entries)
            {
                var key = $"rewrite.{kind}.{n}";
                if (TryParseRule(key, n, scope, value, options.RegexTimeout, out var rule) is { } problem)
                    errors?.Add((key, problem));
                else
                    rules.Add(rule!);
            }
        }

        rules.Sort((a, b) => a.Number != b.Number ? a.Number.CompareTo(b.Number) : a.Scope.CompareTo(b.Scope));
        for (var i = 1; i < rules.Count; i++)
        {
            // rule.N with pub_rule.N (or sub_rule.N) would leave their order to chance; pub_rule.N with sub_rule.N never meet.
            var (previous, rule) = (rules[i - 1], rules[i]);
            if (previous.Number == rule.Number && (previous.Scope == RuleScope.All || rule.Scope == RuleScope.All))
                errors?.Add((rule.Key, $"{previous.Key} has the same number; each N orders one rule"));
        }
        return new RewriteRuleSet(
            [.. rules.Where(r => r.Scope != RuleScope.Subscribe)],
            [.. rules.Where(r => r.Scope != RuleScope.Publish)]);
    }

    /// <summary>Compiles one rule; returns the problem, or null with <paramref name="rule"/> set.</summary>
    private static string? TryParseRule(string key, int number, RuleScope scope, string value, TimeSpan regexTimeout, out RewriteRule? rule)
    {
        rule = null;
        var parts = value.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 3)
            return $"expected three parts separated by spaces, <filter> <regex> <destination>, found {parts.Length}";
        var (filter, pattern, destination) = (parts[0], parts[1], parts[2]);
        if (!Topics.IsValidFilter(filter))
            return $"filter '{filter}' is not a valid topic filter";
        if (Topics.SharePrefixLength(filter) > 0)
            return $"filter '{filter}' has a $share/$queue prefix; rules match the filter after it";

        Regex regex;
        try
        {
            regex = new Regex(pattern, RegexOptions.CultureInvariant, regexTimeout);
        }
        catch (ArgumentException e)
        {
            return $"regex '{pattern}' is invalid: {e.Message}";
        }

        var candidate = new RewriteRule(key, number, scope, filter, regex, destination);
        var groups = regex.GetGroupNumbers().Max();
        if (candidate.HighestGroup > groups)
            return $"destination '{destination}' uses ${candidate.HighestGroup} but the regex has {groups} capture group(s)";
        var shape = candidate.DestinationShape("x");
        if (!Topics.IsValidFilter(shape))
            return $"destination '{destination}' is not a valid topic";
        if (scope == RuleScope.Publish && !Topics.IsValidName(shape))
            return $"destination '{destination}' has a wildcard; a pub_rule must produce a topic name";
        rule = candidate;
        return null;
    }
}
