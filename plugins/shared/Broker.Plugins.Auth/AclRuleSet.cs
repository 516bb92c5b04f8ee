using System.Text.Json;

namespace Broker.Plugins.Auth;

/// <summary>
/// The ACL rows loaded for one connection, judged as the broker's acl.conf is: in the order the backend returned them,
/// the first row about the client, for the action, whose topic matches decides; none = no opinion (the next source,
/// then <c>acl_nomatch</c>). EMQX 4 walks a query's rows last to first; here the query's order is the order, so write
/// an <c>order by</c> when it matters.
/// </summary>
/// <remarks>
/// For a SUBSCRIBE the rows are judged against the requested filter as against every topic it could match: a row
/// whose filter covers it decides all of it, one that only overlaps it decides some, and a filter only partly allowed
/// is granted with each delivery checked (see <c>ClientAuthorizeContext.CheckDeliveries</c>). A <c>%u</c> or <c>%c</c>
/// that would put <c>+</c>, <c>#</c> or <c>/</c> into a filter denies instead (client id <c>+</c> on
/// <c>devices/%c/#</c> must not open every device's topics); a row whose placeholder the client lacks is skipped.
/// Immutable: read from any thread.
/// </remarks>
public sealed class AclRuleSet
{
    private readonly AclRule[] _rules;

    /// <summary>The rows, in the order the backend returned them.</summary>
    public AclRuleSet(IEnumerable<AclRule> rules) => _rules = [.. rules];

    /// <summary>
    /// The allow rules of an EMQX-style ACL object, <c>{"pub": [...], "sub": [...], "all": [...]}</c> (a JWT's acl
    /// claim, an HTTP auth answer): each string a topic filter, <c>%u</c> and <c>%c</c> allowed.
    /// </summary>
    public static AclRuleSet FromJson(JsonElement acl)
    {
        var rules = new List<AclRule>();
        foreach (var (field, access) in new[] { ("pub", AclAccess.Publish), ("sub", AclAccess.Subscribe), ("all", AclAccess.PubSub) })
        {
            if (!acl.TryGetProperty(field, out var topics) || topics.ValueKind != JsonValueKind.Array)
                continue;
            foreach (var topic in topics.EnumerateArray())
            {
                if (topic.ValueKind == JsonValueKind.String && topic.GetString() is { Length: > 0 } filter)
                    rules.Add(new AclRule { Allow = true, Access = access, Topic = filter });
            }
        }
        return new AclRuleSet(rules);
    }

    /// <summary>No rows: every check has no opinion.</summary>
    public static AclRuleSet Empty { get; } = new([]);

    /// <summary>How many rows.</summary>
    public int Count => _rules.Length;

    /// <summary>
    /// The verdict for the question <paramref name="ctx"/> asks (publish, subscribe or delivery; see
    /// <c>ClientAuthorizeContext</c>), setting its <c>CheckDeliveries</c> for a filter the rows allow only in part.
    /// </summary>
    public AuthorizationResult Judge(ClientAuthorizeContext ctx, ClientInfo client)
    {
        if (ctx.Action == AuthorizationAction.Subscribe && !ctx.IsDelivery)
        {
            var result = CheckSubscription(client, ctx.Topic, out var partial);
            ctx.CheckDeliveries |= partial;
            return result;
        }
        return Check(client, ctx.Action == AuthorizationAction.Publish ? AclAccess.Publish : AclAccess.Subscribe, ctx.Topic);
    }

    /// <summary>The verdict for a PUBLISH to (or a delivery from) the topic name <paramref name="topic"/>.</summary>
    public AuthorizationResult Check(ClientInfo client, AclAccess action, string topic)
    {
        foreach (var rule in _rules)
        {
            if ((rule.Access & action) == 0 || !rule.IsAbout(client))
                continue;
            switch (Resolve(rule.Topic, client, out var filter, out var exact))
            {
                case Substitution.Missing:
                    continue;
                case Substitution.Unsafe:
                    return AuthorizationResult.Deny;
            }
            if (exact ? string.Equals(filter, topic, StringComparison.Ordinal) : Topics.Matches(filter, topic))
                return rule.Allow ? AuthorizationResult.Allow : AuthorizationResult.Deny;
        }
        return AuthorizationResult.Ignore;
    }

    /// <summary>
    /// The verdict for a SUBSCRIBE to <paramref name="filter"/> (see the remarks); <paramref name="partial"/> set when
    /// each delivery must be checked with <see cref="Check"/>.
    /// </summary>
    public AuthorizationResult CheckSubscription(ClientInfo client, string filter, out bool partial)
    {
        bool someAllowed = false, someDenied = false;
        foreach (var rule in _rules)
        {
            if ((rule.Access & AclAccess.Subscribe) == 0 || !rule.IsAbout(client))
                continue;
            switch (Resolve(rule.Topic, client, out var ruleFilter, out var exact))
            {
                case Substitution.Missing:
                    continue;
                case Substitution.Unsafe:
                    return Decided(false, someAllowed, someDenied, out partial);
            }
            if (exact ? string.Equals(ruleFilter, filter, StringComparison.Ordinal) : Topics.Covers(ruleFilter, filter))
                return Decided(rule.Allow, someAllowed, someDenied, out partial);
            if (!exact && Topics.Overlaps(ruleFilter, filter))
            {
                someAllowed |= rule.Allow;
                someDenied |= !rule.Allow;
            }
        }
        partial = someAllowed || someDenied;
        return someAllowed ? AuthorizationResult.Allow : AuthorizationResult.Ignore;
    }

    private static AuthorizationResult Decided(bool allow, bool someAllowed, bool someDenied, out bool partial)
    {
        partial = allow ? someDenied : someAllowed;
        return allow || someAllowed ? AuthorizationResult.Allow : AuthorizationResult.Deny;
    }

    private static Substitution Resolve(string topic, ClientInfo client, out string filter, out bool exact)
    {
        exact = topic.StartsWith("eq ", StringComparison.Ordinal);
        filter = exact ? topic[3..] : topic;
        if (!filter.Contains('%', StringComparison.Ordinal))
            return Substitution.Done;
        foreach (var (placeholder, value) in new[] { ("%u", client.Username), ("%c", client.ClientId) })
        {
            if (!filter.Contains(placeholder, StringComparison.Ordinal))
                continue;
            if (string.IsNullOrEmpty(value))
                return Substitution.Missing;
            if (value.AsSpan().IndexOfAny('+', '#', '/') >= 0)
                return Substitution.Unsafe;
            filter = filter.Replace(placeholder, value, StringComparison.Ordinal);
        }
        return Substitution.Done;
    }

    private enum Substitution
    {
        Done,
        Missing,
        Unsafe,
    }
}
