using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Broker.Plugins.AuthHttp;

/// <summary>
/// One of EMQX's three requests (<c>auth_req</c>, <c>super_req</c>, <c>acl_req</c>): URL, method, headers and
/// <c>name=value</c> params whose placeholders are filled per client. Values go out encoded for where they go (query
/// string or form: percent-encoded; JSON: a JSON string), so a user name like <c>a&amp;password=x</c> is one value.
/// </summary>
internal sealed class HttpRequestTemplate
{
    private readonly Uri _url;
    private readonly HttpMethodOption _method;
    private readonly (string Name, string Value)[] _headers;
    private readonly (string Name, string Template)[] _params;
    private readonly bool _json;
    private readonly string? _host;

    /// <summary>The request as configured; <paramref name="host"/> (null = the URL's) is the Host header, which is also the name sent in TLS SNI and checked in the certificate.</summary>
    public HttpRequestTemplate(string url, HttpMethodOption method, Dictionary<string, HeaderValue> headers, string parameters, string? host = null)
    {
        _url = new Uri(url);
        _host = host;
        _method = method;
        _headers = [.. headers.Select(h => (h.Key.Replace('_', '-'), h.Value.Value))];
        _json = _headers.Any(h => string.Equals(h.Name, "content-type", StringComparison.OrdinalIgnoreCase)
            && h.Value.StartsWith("application/json", StringComparison.OrdinalIgnoreCase));
        _params = [.. parameters.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(p => (p[..p.IndexOf('=', StringComparison.Ordinal)].Trim(), p[(p.IndexOf('=', StringComparison.Ordinal) + 1)..].Trim()))];
    }

    /// <summary>The request for one client; <paramref name="value"/> gives each placeholder letter's value (null = empty).</summary>
    public HttpRequestMessage Build(Func<char, string?> value)
    {
        var values = _params.Select(p => (p.Name, Render(p.Template, value))).ToList();
        HttpRequestMessage request;
        if (_method == HttpMethodOption.Get)
        {
            var query = string.Join('&', values.Select(v => Uri.EscapeDataString(v.Name) + "=" + Uri.EscapeDataString(v.Item2)));
            var builder = new UriBuilder(_url) { Query = string.IsNullOrEmpty(_url.Query) ? query : _url.Query.TrimStart('?') + "&" + query };
            request = new HttpRequestMessage(HttpMethod.Get, builder.Uri);
        }
        else
        {
            request = new HttpRequestMessage(HttpMethod.Post, _url)
            {
                Content = _json
                    ? new StringContent(JsonSerializer.Serialize(values.ToDictionary(v => v.Name, v => v.Item2)), Encoding.UTF8, "application/json")
                    : new FormUrlEncodedContent(values.Select(v => new KeyValuePair<string, string>(v.Name, v.Item2))),
            };
        }
        // Only for https (where it names the server for SNI and the certificate), and with the URL's port when it has one.
        if (_host is not null && _url.Scheme == Uri.UriSchemeHttps)
            request.Headers.Host = _url.IsDefaultPort ? _host : $"{_host}:{_url.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        foreach (var (name, headerValue) in _headers)
        {
            if (string.Equals(name, "content-type", StringComparison.OrdinalIgnoreCase))
            {
                if (request.Content is not null && MediaTypeHeaderValue.TryParse(headerValue, out var media))
                    request.Content.Headers.ContentType = media;
            }
            else
            {
                request.Headers.TryAddWithoutValidation(name, headerValue);
            }
        }
        return request;
    }

    /// <summary>EMQX's placeholders in one value; <c>%%</c> is a literal <c>%</c>, an unknown <c>%x</c> stays as written.</summary>
    private static string Render(string template, Func<char, string?> value)
    {
        if (!template.Contains('%', StringComparison.Ordinal))
            return template;
        var text = new StringBuilder(template.Length + 16);
        for (var i = 0; i < template.Length; i++)
        {
            if (template[i] == '%' && i + 1 < template.Length)
            {
                var letter = template[i + 1];
                if (letter == '%')
                {
                    text.Append('%');
                    i++;
                    continue;
                }
                if ("ucarPpCdAtm".Contains(letter, StringComparison.Ordinal))
                {
                    text.Append(value(letter));
                    i++;
                    continue;
                }
            }
            text.Append(template[i]);
        }
        return text.ToString();
    }

    /// <summary>
    /// The values every request may use: %u %c %a %C %d as everywhere, %r the protocol (<c>mqtt</c>), %p the listener's
    /// name (EMQX's is its port, which the SDK does not expose); %P, %A, %t come from the caller, %m is always empty.
    /// </summary>
    public static string? ClientValue(char letter, ClientInfo client) => letter switch
    {
        'r' => "mqtt",
        'p' => client.Listener,
        _ => Auth.Placeholders.ValueOf(letter, client),
    };
}
