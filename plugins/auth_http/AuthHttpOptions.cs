using Broker.Plugins.Auth;

namespace Broker.Plugins.AuthHttp;

/// <summary>GET (params in the query string) or POST (params in the body).</summary>
internal enum HttpMethodOption
{
    Get,
    Post,
}

/// <summary>One <c>auth.http.&lt;req&gt;.headers.&lt;name&gt;</c>; <c>_</c> in the name is sent as <c>-</c>.</summary>
internal sealed class HeaderValue
{
    [ConfKey("", "The header's value.")]
    public string Value { get; set; } = "";
}

/// <summary><c>auth.http.ssl.*</c>, for https:// URLs: the shared TLS keys and the SNI name.</summary>
internal sealed class HttpTlsOptions : BackendTlsOptions
{
    [ConfKey("server_name_indication", "For https:// URLs: the host name sent in TLS SNI (and in the Host header) and checked in the certificate; empty (or EMQX's disable) = the host of the URL.")]
    public string ServerName { get; set; } = "";
}

/// <summary>etc/plugins/auth_http.conf: EMQX 4's <c>auth.http.*</c> keys, with their defaults.</summary>
internal sealed class AuthHttpOptions : IValidatableOptions
{
    private const string Form = "application/x-www-form-urlencoded";

    [ConfKey("auth.http.auth_req.url", "Where CONNECTs are checked; empty = no authentication over HTTP.")]
    public string AuthUrl { get; set; } = "http://127.0.0.1:80/mqtt/auth";

    [ConfKey("auth.http.auth_req.method", "get (params in the query string) or post (params in the body, form or JSON by content_type).")]
    public HttpMethodOption AuthMethod { get; set; } = HttpMethodOption.Post;

    [ConfMap("auth.http.auth_req.headers", "A header of the authentication request (content_type = application/json sends a JSON body).")]
    public Dictionary<string, HeaderValue> AuthHeaders { get; set; } = new() { ["content_type"] = new() { Value = Form } };

    [ConfKey("auth.http.auth_req.params", "name=value pairs, comma-separated, values with %u %c %a %r %P %p %C %d (%p: the listener's name, e.g. tcp:external).")]
    public string AuthParams { get; set; } = "clientid=%c,username=%u,password=%P";

    [ConfKey("auth.http.super_req.url", "Where superusers are asked about (200 = superuser); empty = none.")]
    public string SuperUrl { get; set; } = "http://127.0.0.1:80/mqtt/superuser";

    [ConfKey("auth.http.super_req.method", "get or post.")]
    public HttpMethodOption SuperMethod { get; set; } = HttpMethodOption.Post;

    [ConfMap("auth.http.super_req.headers", "A header of the superuser request.")]
    public Dictionary<string, HeaderValue> SuperHeaders { get; set; } = new() { ["content_type"] = new() { Value = Form } };

    [ConfKey("auth.http.super_req.params", "name=value pairs, as auth_req.params.")]
    public string SuperParams { get; set; } = "clientid=%c,username=%u";

    [ConfKey("auth.http.acl_req.url", "Where each publish and subscribe is checked (200 = allow, 200 with body ignore = next source, anything else = deny); empty = none.")]
    public string AclUrl { get; set; } = "http://127.0.0.1:80/mqtt/acl";

    [ConfKey("auth.http.acl_req.method", "get or post.")]
    public HttpMethodOption AclMethod { get; set; } = HttpMethodOption.Post;

    [ConfMap("auth.http.acl_req.headers", "A header of the ACL request.")]
    public Dictionary<string, HeaderValue> AclHeaders { get; set; } = new() { ["content_type"] = new() { Value = Form } };

    [ConfKey("auth.http.acl_req.params", "name=value pairs, as auth_req.params, plus %A (1 subscribe, 2 publish), %t (topic) and %m (mountpoint, always empty here).")]
    public string AclParams { get; set; } = "access=%A,username=%u,clientid=%c,ipaddr=%a,topic=%t,mountpoint=%m";

    [ConfKey("auth.http.timeout", "How long one request may take; it is cancelled after and the client is judged by on_error.", Unit = ConfUnit.Duration, Min = "10ms")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    [ConfKey("auth.http.connect_timeout", "How long opening a connection to the service may take.", Unit = ConfUnit.Duration, Min = "10ms")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    [ConfKey("auth.http.pool_size", "At most this many connections to the service (kept alive and reused).", Min = "1")]
    public int PoolSize { get; set; } = 32;

    [ConfSection("auth.http.ssl")]
    public HttpTlsOptions Ssl { get; } = new();

    [ConfKey("auth.http.on_error", "What an unreachable service, a timeout or a transport error means: deny (CONNACK Server Unavailable, publish/subscribe refused) or ignore (the next source decides). An HTTP status other than 200 is an answer, not an error: it denies.")]
    public OnError OnError { get; set; } = OnError.Deny;

    /// <inheritdoc />
    public IEnumerable<(string Key, string Error)> Validate()
    {
        foreach (var (key, url) in new[] { ("auth.http.auth_req.url", AuthUrl), ("auth.http.super_req.url", SuperUrl), ("auth.http.acl_req.url", AclUrl) })
        {
            if (url.Length > 0 && !(Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
                yield return (key, "not an http:// or https:// URL");
        }
        foreach (var (key, text) in new[] { ("auth.http.auth_req.params", AuthParams), ("auth.http.super_req.params", SuperParams), ("auth.http.acl_req.params", AclParams) })
        {
            if (text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(p => p.IndexOf('=', StringComparison.Ordinal) <= 0) is { } bad)
                yield return (key, $"'{bad}' is not name=value");
        }
    }
}
