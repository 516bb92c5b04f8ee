using System.Text;

namespace Broker.Ctl;

/// <summary>
/// Where the management API is and how to log in: from <c>--url/--user/--secret</c>, else
/// <c>BROKER_CTL_URL/USER/SECRET</c>, else the broker's own configuration in the broker home (<c>--home</c>,
/// <c>$BROKER_HOME</c> or the current directory): <c>etc/broker.conf</c> with the broker's <c>BROKER_MANAGEMENT__*</c>
/// overrides, and the generated <c>data/management.secret</c> when no secret is configured.
/// </summary>
internal sealed record CtlConnection(Uri BaseUrl, string User, string? Secret)
{
    public const string DefaultListener = "127.0.0.1:8081";

    /// <summary>The URL as operators read it in messages (no trailing slash).</summary>
    public string Display => BaseUrl.GetLeftPart(UriPartial.Authority);

    public static CtlConnection Resolve(string? home, string? url, string? user, string? secret, Func<string, string?> environment)
    {
        // An empty variable counts as unset, as in a shell's ${VAR:-default}.
        string? env(string name) => environment(name) is { Length: > 0 } value ? value : null;
        home = Path.GetFullPath(home ?? env("BROKER_HOME") ?? Directory.GetCurrentDirectory());
        url ??= env("BROKER_CTL_URL");
        user ??= env("BROKER_CTL_USER");
        secret ??= env("BROKER_CTL_SECRET");

        if (url is null || user is null || secret is null)
        {
            var conf = ReadConf(Path.Combine(home, "etc", "broker.conf"));
            string? Setting(string key) =>
                env("BROKER_" + key.Replace(".", "__", StringComparison.Ordinal).ToUpperInvariant())
                ?? conf.GetValueOrDefault(key);
            url ??= UrlOf(Setting("management.listener") ?? DefaultListener);
            user ??= Setting("management.default_application.id") ?? "admin";
            secret ??= Setting("management.default_application.secret");
            if (string.IsNullOrEmpty(secret))
            {
                var file = Path.Combine(home, "data", "management.secret");
                secret = File.Exists(file) ? ReadSecretFile(file) : null;
            }
        }

        if (!url.Contains("://", StringComparison.Ordinal))
            url = UrlOf(url);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new CtlException($"'{url}' is not an http:// URL of the management API");
        return new CtlConnection(uri, user, secret);
    }

    /// <summary>
    /// A listener setting (<c>port</c>, <c>ip:port</c>, <c>[ipv6]:port</c>) as a URL to connect to: a wildcard
    /// address means this host's loopback.
    /// </summary>
    internal static string UrlOf(string listener)
    {
        listener = listener.Trim();
        if (ushort.TryParse(listener, out var bare))
            return $"http://127.0.0.1:{bare}";
        var colon = listener.LastIndexOf(':');
        if (colon <= 0)
            throw new CtlException($"management.listener '{listener}' is not a port, ip:port or [ipv6]:port");
        var host = listener[..colon];
        var port = listener[(colon + 1)..];
        host = host switch
        {
            "0.0.0.0" => "127.0.0.1",
            "[::]" or "::" => "[::1]",
            _ => host,
        };
        return $"http://{host}:{port}";
    }

    private static string ReadSecretFile(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (UnauthorizedAccessException)
        {
            throw new CtlException($"cannot read {path} (mode 0600, owned by the broker's user): run ctl as that user, or pass --secret");
        }
    }

    /// <summary>
    /// The <c>key = value</c> lines of a broker.conf (<c>#</c> comments, optional quotes). ctl needs three keys and
    /// must not depend on the server, so this is deliberately tiny; the broker validates the file.
    /// </summary>
    internal static Dictionary<string, string> ReadConf(string path)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (!File.Exists(path))
            return result;
        foreach (var raw in File.ReadLines(path, Encoding.UTF8))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
                continue;
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
                continue;
            var value = line[(eq + 1)..].Trim();
            if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
                value = value[1..^1];
            result[line[..eq].Trim()] = value;
        }
        return result;
    }
}

/// <summary>A failure ctl reports in one line on stderr and exits with <see cref="ExitCode"/>.</summary>
internal sealed class CtlException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
