using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace Broker.Plugins.TopicRewrite;

/// <summary>The rules for each kind of packet, each list in ascending N.</summary>
/// <param name="Publish"><c>rewrite.rule.N</c> and <c>rewrite.pub_rule.N</c>.</param>
/// <param name="Subscribe"><c>rewrite.rule.N</c> and <c>rewrite.sub_rule.N</c>, for SUBSCRIBE and UNSUBSCRIBE.</param>
internal sealed record RewriteRuleSet(RewriteRule[] Publish, RewriteRule[] Subscribe);

/// <summary>
/// Reads the numbered rules of topic_rewrite.conf: <c>rewrite.rule.N</c>, <c>rewrite.pub_rule.N</c> and
/// <c>rewrite.sub_rule.N</c>, each <c>&lt;filter&gt; &lt;regex&gt; &lt;destination&gt;</c> separated by white space.
/// Every problem is collected and reported together, one "file:line: key = value: problem" line each.
/// </summary>
internal static class RewriteRuleParser
{
    private const string Section = "rewrite";

    /// <summary>Parses every rule; throws <see cref="PluginConfigurationException"/> listing every bad line.</summary>
    /// <param name="configuration">The plugin's configuration.</param>
    /// <param name="originOf">Where a dotted key was set (<see cref="IPluginContext.OriginOf"/>).</param>
    /// <param name="regexTimeout">The match timeout every regex is compiled with.</param>
    public static RewriteRuleSet Parse(IConfiguration configuration, Func<string, string?> originOf, TimeSpan regexTimeout)
    {
        var errors = new List<string>();
        var rules = new List<RewriteRule>();
        foreach (var (path, value) in configuration.AsEnumerable())
        {
            if (value is null)
                continue; // a section: its keys come on their own
            var key = path.Replace(':', '.');
            var levels = path.Split(':');
            if (levels is [var section, "regex_timeout"] && IsSection(section))
                continue; // bound by TopicRewriteOptions
            if (levels is not [var s, var kind, var number] || !IsSection(s) || ScopeOf(kind) is not { } scope)
            {
                errors.Add($"{originOf(key)}: {key} = {value}: unknown key; rules are rewrite.rule.N, rewrite.pub_rule.N and rewrite.sub_rule.N");
                continue;
            }
            if (!int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
            {
                errors.Add($"{originOf(key)}: {key} = {value}: N must be a whole number from 1");
                continue;
            }
            if (TryParseRule(key, n, scope, value, regexTimeout, out var rule) is { } problem)
                errors.Add($"{originOf(key)}: {key} = {value}: {problem}");
            else
                rules.Add(rule!);
        }

        rules.Sort((a, b) => a.Number != b.Number ? a.Number.CompareTo(b.Number) : a.Scope.CompareTo(b.Scope));
        for (var i = 1; i < rules.Count; i++)
        {
            // rule.N with pub_rule.N (or sub_rule.N) would leave their order to chance; pub_rule.N with sub_rule.N never meet.
            var (previous, rule) = (rules[i - 1], rules[i]);
            if (previous.Number == rule.Number && (previous.Scope == RuleScope.All || rule.Scope == RuleScope.All))
                errors.Add($"{originOf(rule.Key)}: {rule.Key} = {rule.Filter} {rule.Regex} {rule.Destination}: {previous.Key} has the same number; each N orders one rule");
        }

        if (errors.Count > 0)
            throw new PluginConfigurationException(string.Join(Environment.NewLine, errors));
        return new RewriteRuleSet(
            [.. rules.Where(r => r.Scope != RuleScope.Subscribe)],
            [.. rules.Where(r => r.Scope != RuleScope.Publish)]);
    }

    /// <summary>Compiles one rule; returns the problem, or null with <paramref name="rule"/> set.</summary>
    internal static string? TryParseRule(string key, int number, RuleScope scope, string value, TimeSpan regexTimeout, out RewriteRule? rule)
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

    private static bool IsSection(string level) => string.Equals(level, Section, StringComparison.OrdinalIgnoreCase);

    private static RuleScope? ScopeOf(string kind) => kind.ToLowerInvariant() switch
    {
        "rule" => RuleScope.All,
        "pub_rule" => RuleScope.Publish,
        "sub_rule" => RuleScope.Subscribe,
        _ => null,
    };
}
