using System.Text;

namespace Broker.Plugins.AuthLdap;

/// <summary>
/// The search of a client's entry: the base DN and the filter, with the client's user name put in escaped, so no user
/// name is ever read as LDAP syntax. In a filter (RFC 4515) <c>*</c> <c>(</c> <c>)</c> <c>\</c> and NUL become
/// <c>\2a \28 \29 \5c \00</c>: the user name <c>*)(uid=*</c> looks for the entry whose uid is that text, and finds none.
/// In a DN (RFC 4514) <c>, + " \ &lt; &gt; ; =</c>, a leading space or <c>#</c> and a trailing space are escaped.
/// </summary>
internal sealed class LdapFilter
{
    private readonly AuthLdapOptions _options;
    private readonly LdapFilterTerm[] _terms;

    public LdapFilter(AuthLdapOptions options)
    {
        _options = options;
        _terms = Ordered(options);
    }

    /// <summary>The base DN of the search for <paramref name="username"/>.</summary>
    public string BaseDn(string username) => Replace(_options.CustomBaseDn, EscapeDnValue(username), _options.DeviceDn);

    /// <summary>The filter for <paramref name="username"/>.</summary>
    public string For(string username)
    {
        var user = EscapeFilterValue(username);
        if (_terms.Length == 0)
            return $"(&(objectClass={EscapeFilterValue(_options.MatchObjectClass)})({_options.UsernameAttribute}={user}))";
        // EMQX 4: left to right, each op joining what came before with the next term.
        var filter = Term(_terms[0], user);
        for (var i = 1; i < _terms.Length; i++)
            filter = $"({(_terms[i - 1].Op == "or" ? '|' : '&')}{filter}{Term(_terms[i], user)})";
        return filter;
    }

    /// <summary>Whether every term but the last has an op.</summary>
    public static bool JoinsAll(AuthLdapOptions options)
    {
        var terms = Ordered(options);
        for (var i = 0; i < terms.Length - 1; i++)
        {
            if (terms[i].Op.Length == 0)
                return false;
        }
        return true;
    }

    private string Term(LdapFilterTerm term, string escapedUser)
    {
        var key = term.Key.Replace("${username_attr}", _options.UsernameAttribute, StringComparison.Ordinal);
        // The configured parts are the operator's and escaped too: only ${user} comes from the client.
        var parts = term.Value.Split("${user}");
        for (var i = 0; i < parts.Length; i++)
            parts[i] = EscapeFilterValue(Replace(parts[i], null, _options.DeviceDn));
        return $"({key}={string.Join(escapedUser, parts)})";
    }

    private string Replace(string template, string? user, string deviceDn)
    {
        var text = template.Replace("${username_attr}", _options.UsernameAttribute, StringComparison.Ordinal)
            .Replace("${device_dn}", deviceDn, StringComparison.Ordinal);
        return user is null ? text : text.Replace("${user}", user, StringComparison.Ordinal);
    }

    private static LdapFilterTerm[] Ordered(AuthLdapOptions options) =>
        [.. options.Filters.OrderBy(f => int.TryParse(f.Key, out var n) ? n : int.MaxValue).Select(f => f.Value)];

    /// <summary>RFC 4515 §3: a value in a filter.</summary>
    public static string EscapeFilterValue(string value)
    {
        var text = new StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            switch (c)
            {
                case '*': text.Append(@"\2a"); break;
                case '(': text.Append(@"\28"); break;
                case ')': text.Append(@"\29"); break;
                case '\\': text.Append(@"\5c"); break;
                case '\0': text.Append(@"\00"); break;
                default: text.Append(c); break;
            }
        }
        return text.ToString();
    }

    /// <summary>RFC 4514 §2.4: an attribute value in a DN.</summary>
    public static string EscapeDnValue(string value)
    {
        var text = new StringBuilder(value.Length + 8);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c is ',' or '+' or '"' or '\\' or '<' or '>' or ';' or '='
                || (i == 0 && c is ' ' or '#')
                || (i == value.Length - 1 && c == ' '))
                text.Append('\\').Append(c);
            else if (c == '\0')
                text.Append(@"\00");
            else
                text.Append(c);
        }
        return text.ToString();
    }

    /// <summary>For logs: the base and the filter, with the user name's place shown.</summary>
    public override string ToString() => $"{Replace(_options.CustomBaseDn, "<user>", _options.DeviceDn)} for {For("<user>")}";
}
