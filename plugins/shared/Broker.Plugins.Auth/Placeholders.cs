using System.Text;

namespace Broker.Plugins.Auth;

/// <summary>
/// EMQX 4's placeholders in commands, queries, selectors and ACL topics: <c>%u</c> user name, <c>%c</c> client id,
/// <c>%a</c> peer address, <c>%C</c> TLS client certificate common name, <c>%d</c> its subject DN. A value the client
/// does not have (no user name, no certificate) is null. <c>%%</c> is a literal <c>%</c>; any other <c>%x</c> stays as
/// written.
/// </summary>
/// <remarks>
/// Values are never spliced into text that a backend parses: an SQL query gets them as parameters
/// (<see cref="SqlTemplate"/>), a Redis command as whole arguments, a Mongo selector as field values. Rendering into a
/// string (<see cref="Render"/>) is for those arguments and values only.
/// </remarks>
public sealed class Placeholders
{
    private readonly object[] _parts; // string literals and char placeholders

    private Placeholders(object[] parts) => _parts = parts;

    /// <summary>The placeholder letters EMQX defines.</summary>
    public static bool IsPlaceholder(char letter) => letter is 'u' or 'c' or 'a' or 'C' or 'd';

    /// <summary>Whether the text had any placeholder.</summary>
    public bool HasPlaceholders => _parts.Any(p => p is char);

    /// <summary>Splits <paramref name="text"/> into literals and placeholders.</summary>
    public static Placeholders Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = new List<object>();
        var literal = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '%' && i + 1 < text.Length)
            {
                var next = text[i + 1];
                if (next == '%')
                {
                    literal.Append('%');
                    i++;
                    continue;
                }
                if (IsPlaceholder(next))
                {
                    if (literal.Length > 0)
                        parts.Add(literal.ToString());
                    literal.Clear();
                    parts.Add(next);
                    i++;
                    continue;
                }
            }
            literal.Append(text[i]);
        }
        if (literal.Length > 0 || parts.Count == 0)
            parts.Add(literal.ToString());
        return new Placeholders([.. parts]);
    }

    /// <summary>The value of one placeholder for <paramref name="client"/>, or null when the client has none.</summary>
    public static string? ValueOf(char letter, ClientInfo client) => letter switch
    {
        'u' => string.IsNullOrEmpty(client.Username) ? null : client.Username,
        'c' => client.ClientId,
        'a' => client.RemoteEndPoint?.Address is { } address
            ? (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString()
            : null,
        'C' => client.CertificateCommonName,
        'd' => client.CertificateSubject,
        _ => null,
    };

    /// <summary>
    /// The text with every placeholder replaced by <paramref name="client"/>'s value (a missing value becomes the
    /// empty string, so a key or selector built from it finds nothing).
    /// </summary>
    public string Render(ClientInfo client)
    {
        if (_parts is [string only])
            return only;
        var text = new StringBuilder();
        foreach (var part in _parts)
            text.Append(part is char letter ? ValueOf(letter, client) : (string)part);
        return text.ToString();
    }
}

/// <summary>
/// An SQL query with EMQX placeholders turned into parameters: <c>where username = '%u' limit 1</c> becomes
/// <c>where username = @p0 limit 1</c> with <c>@p0</c> the user name. A quoted literal that holds a placeholder
/// (<c>'%u'</c>, <c>'dev-%c'</c>) becomes one parameter whose value is the literal with the values put in; a placeholder
/// outside quotes becomes a parameter on its own. Nothing the client sends ever reaches the SQL text.
/// </summary>
public sealed class SqlTemplate
{
    private SqlTemplate(string text, Placeholders[] parameters)
    {
        Text = text;
        Parameters = parameters;
    }

    /// <summary>The SQL with <c>@p0</c>, <c>@p1</c> ... in place of the placeholders.</summary>
    public string Text { get; }

    /// <summary>The value template of each parameter, in order.</summary>
    public IReadOnlyList<Placeholders> Parameters { get; }

    /// <summary>Rewrites <paramref name="query"/>.</summary>
    /// <exception cref="FormatException">A quote is not closed.</exception>
    public static SqlTemplate Parse(string query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var sql = new StringBuilder();
        var parameters = new List<Placeholders>();
        for (var i = 0; i < query.Length; i++)
        {
            var c = query[i];
            if (c is '\'' or '"')
            {
                var end = ClosingQuote(query, i);
                if (end < 0)
                    throw new FormatException($"unclosed {c} in the query: {query}");
                var content = query[(i + 1)..end].Replace(new string(c, 2), new string(c, 1), StringComparison.Ordinal);
                var template = Placeholders.Parse(content);
                if (template.HasPlaceholders)
                {
                    sql.Append("@p").Append(parameters.Count);
                    parameters.Add(template);
                }
                else
                {
                    sql.Append(query, i, end - i + 1);
                }
                i = end;
            }
            else if (c == '%' && i + 1 < query.Length && Placeholders.IsPlaceholder(query[i + 1]))
            {
                sql.Append("@p").Append(parameters.Count);
                parameters.Add(Placeholders.Parse(query.Substring(i, 2)));
                i++;
            }
            else
            {
                sql.Append(c);
            }
        }
        return new SqlTemplate(sql.ToString(), [.. parameters]);
    }

    /// <summary>The value of each parameter for <paramref name="client"/>; a lone placeholder without a value is null (SQL NULL).</summary>
    public object?[] Values(ClientInfo client)
    {
        var values = new object?[Parameters.Count];
        for (var i = 0; i < values.Length; i++)
            values[i] = Parameters[i].Render(client) is { Length: > 0 } text ? text : null;
        return values;
    }

    private static int ClosingQuote(string text, int open)
    {
        var quote = text[open];
        for (var i = open + 1; i < text.Length; i++)
        {
            if (text[i] != quote)
                continue;
            if (i + 1 < text.Length && text[i + 1] == quote)
            {
                i++; // doubled quote inside the literal
                continue;
            }
            return i;
        }
        return -1;
    }
}
