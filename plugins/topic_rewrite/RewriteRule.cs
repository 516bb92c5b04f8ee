using System.Text;
using System.Text.RegularExpressions;

namespace Broker.Plugins.TopicRewrite;

/// <summary>Which packets a rule applies to.</summary>
internal enum RuleScope
{
    /// <summary><c>rewrite.rule.N</c>: PUBLISH, SUBSCRIBE and UNSUBSCRIBE.</summary>
    All,
    /// <summary><c>rewrite.pub_rule.N</c>: PUBLISH only.</summary>
    Publish,
    /// <summary><c>rewrite.sub_rule.N</c>: SUBSCRIBE and UNSUBSCRIBE.</summary>
    Subscribe,
}

/// <summary>What <see cref="RewriteRule.TryRewrite"/> did.</summary>
internal enum RewriteStatus
{
    /// <summary>The regex matched: the result is the destination with its captures and placeholders filled in.</summary>
    Rewritten,
    /// <summary>The regex did not match: the topic stays as it is (EMQX: no later rule is tried).</summary>
    RegexMismatch,
    /// <summary>The destination uses <c>%u</c> and the client has no user name (or <c>%c</c> and there is no client): unchanged.</summary>
    MissingPlaceholder,
    /// <summary>The regex overran <c>rewrite.regex_timeout</c>: unchanged.</summary>
    Timeout,
}

/// <summary>
/// One compiled rule, <c>&lt;filter&gt; &lt;regex&gt; &lt;destination&gt;</c>. The destination is parsed once into
/// literal text, <c>$N</c> captures, <c>%c</c> (client id) and <c>%u</c> (user name).
/// </summary>
internal sealed class RewriteRule
{
    private readonly Part[] _destination;

    public RewriteRule(string key, int number, RuleScope scope, string filter, Regex regex, string destination)
    {
        Key = key;
        Number = number;
        Scope = scope;
        Filter = filter;
        Regex = regex;
        Destination = destination;
        _destination = ParseDestination(destination);
    }

    /// <summary>The key that set it, dotted (<c>rewrite.pub_rule.2</c>), for logs.</summary>
    public string Key { get; }

    /// <summary>N: rules are tried in ascending N.</summary>
    public int Number { get; }

    public RuleScope Scope { get; }

    /// <summary>The topic filter a topic must match for this rule to decide.</summary>
    public string Filter { get; }

    public Regex Regex { get; }

    /// <summary>The destination as written.</summary>
    public string Destination { get; }

    /// <summary>The largest <c>$N</c> the destination refers to (0 if none).</summary>
    public int HighestGroup
    {
        get
        {
            var highest = 0;
            foreach (var part in _destination)
                highest = Math.Max(highest, part.Group);
            return highest;
        }
    }

    /// <summary>The destination with every capture and placeholder replaced by <paramref name="filler"/>, to check its shape at start.</summary>
    public string DestinationShape(string filler)
    {
        var text = new StringBuilder();
        foreach (var part in _destination)
            text.Append(part.Kind == PartKind.Literal ? part.Literal : filler);
        return text.ToString();
    }

    /// <summary>Applies the rule to <paramref name="topic"/>, whose filter has already matched.</summary>
    public RewriteStatus TryRewrite(string topic, string? clientId, string? username, out string result)
    {
        result = topic;
        Match match;
        try
        {
            match = Regex.Match(topic);
        }
        catch (RegexMatchTimeoutException)
        {
            return RewriteStatus.Timeout;
        }
        if (!match.Success)
            return RewriteStatus.RegexMismatch;
        var text = new StringBuilder(Destination.Length + topic.Length);
        foreach (var part in _destination)
        {
            switch (part.Kind)
            {
                case PartKind.Literal:
                    text.Append(part.Literal);
                    break;
                case PartKind.Group:
                    text.Append(match.Groups[part.Group].ValueSpan); // a group that took no part is empty, as in EMQX
                    break;
                case PartKind.ClientId:
                    if (string.IsNullOrEmpty(clientId))
                        return RewriteStatus.MissingPlaceholder;
                    text.Append(clientId);
                    break;
                case PartKind.Username:
                    if (string.IsNullOrEmpty(username))
                        return RewriteStatus.MissingPlaceholder;
                    text.Append(username);
                    break;
            }
        }
        result = text.ToString();
        return RewriteStatus.Rewritten;
    }

    private enum PartKind
    {
        Literal,
        Group,
        ClientId,
        Username,
    }

    private readonly record struct Part(PartKind Kind, string? Literal = null, int Group = 0);

    /// <summary>
    /// <c>$</c> followed by digits is a capture (all the digits: <c>$12</c> is group 12); <c>%c</c> and <c>%u</c> are
    /// placeholders; everything else, a lone <c>$</c> or <c>%</c> included, is literal.
    /// </summary>
    private static Part[] ParseDestination(string destination)
    {
        var parts = new List<Part>();
        var literal = new StringBuilder();
        for (var i = 0; i < destination.Length; i++)
        {
            var c = destination[i];
            if (c == '$' && i + 1 < destination.Length && char.IsAsciiDigit(destination[i + 1]))
            {
                var end = i + 1;
                while (end < destination.Length && char.IsAsciiDigit(destination[end]))
                    end++;
                Flush();
                // Digits only, so the only failure is overflow: int.MaxValue then exceeds any group count.
                var group = int.TryParse(destination.AsSpan(i + 1, end - i - 1), out var n) ? n : int.MaxValue;
                parts.Add(new Part(PartKind.Group, Group: group));
                i = end - 1;
            }
            else if (c == '%' && i + 1 < destination.Length && destination[i + 1] is 'c' or 'u')
            {
                Flush();
                parts.Add(new Part(destination[i + 1] == 'c' ? PartKind.ClientId : PartKind.Username));
                i++;
            }
            else
            {
                literal.Append(c);
            }
        }
        Flush();
        return [.. parts];

        void Flush()
        {
            if (literal.Length == 0)
                return;
            parts.Add(new Part(PartKind.Literal, literal.ToString()));
            literal.Clear();
        }
    }
}
