using System.Globalization;
using System.Net;

namespace Broker.Plugins.Dashboard;

/// <summary>etc/plugins/dashboard.conf: EMQX 4's <c>dashboard.*</c> keys, with their defaults.</summary>
internal sealed class DashboardOptions : IValidatableOptions
{
    [ConfKey("dashboard.listener.http", "Where the dashboard listens over HTTP: ip:port, or a port alone for every interface (0.0.0.0:18083 opens it to the network); off = no HTTP.")]
    public string Http { get; set; } = "127.0.0.1:18083";

    [ConfKey("dashboard.listener.https", "Where the dashboard listens over HTTPS (ip:port or a port); off = no HTTPS. Needs certfile and keyfile.")]
    public string Https { get; set; } = "off";

    [ConfKey("dashboard.listener.https.certfile", "PEM certificate (chain) of the HTTPS listener.")]
    public string CertFile { get; set; } = "";

    [ConfKey("dashboard.listener.https.keyfile", "PEM key of certfile.")]
    public string KeyFile { get; set; } = "";

    [ConfKey("dashboard.default_user.login", "The user created when there is none yet (data/plugins/dashboard/admins.json does not exist).")]
    public string DefaultLogin { get; set; } = "admin";

    [ConfKey("dashboard.default_user.password", "Its first password. Signing in with it leads straight to setting a new one: nothing else is shown before.")]
    public string DefaultPassword { get; set; } = "public";

    [ConfKey("dashboard.session_timeout", "A signed-in browser that does nothing for this long signs in again.", Unit = ConfUnit.Duration, Min = "1m")]
    public TimeSpan SessionTimeout { get; set; } = TimeSpan.FromMinutes(30);

    [ConfKey("dashboard.hosts", "Host names (comma-separated) browsers may use to reach the dashboard, besides IP addresses and localhost; a request naming another host is refused (421), so no web page can point a name of its own at it (DNS rebinding).")]
    public string Hosts { get; set; } = "";

    [ConfKey("dashboard.sign_in.max_failures", "Sign-ins one address may try per sign_in.window (counted before the password is checked, so parallel guesses count too); more are refused (429) until the window passes.", Min = "1")]
    public int MaxFailures { get; set; } = 5;

    [ConfKey("dashboard.sign_in.window", "The window of sign_in.max_failures.", Unit = ConfUnit.Duration, Min = "1s")]
    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromMinutes(1);

    [ConfKey("dashboard.password_hash_iterations", "PBKDF2-SHA512 iterations of the dashboard users' password hashes (as password_hash_iterations of etc/passwd).", Min = "1000")]
    public int HashIterations { get; set; } = 100_000;

    public string[] AllowedHosts => Hosts.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    public IPEndPoint? HttpEndPoint => ParseEndPoint(Http);

    public IPEndPoint? HttpsEndPoint => ParseEndPoint(Https);

    /// <inheritdoc />
    public IEnumerable<(string Key, string Error)> Validate()
    {
        if (Http != "off" && HttpEndPoint is null)
            yield return ("dashboard.listener.http", $"'{Http}' is not off, a port or ip:port");
        if (Https != "off" && HttpsEndPoint is null)
            yield return ("dashboard.listener.https", $"'{Https}' is not off, a port or ip:port");
        if (Https != "off" && (CertFile.Length == 0 || KeyFile.Length == 0))
            yield return ("dashboard.listener.https", "needs dashboard.listener.https.certfile and keyfile");
        if (Http == "off" && Https == "off")
            yield return ("dashboard.listener.http", "both listeners are off: the dashboard would serve nothing");
        if (DefaultLogin.Length == 0)
            yield return ("dashboard.default_user.login", "must not be empty");
        if (DefaultPassword.Length == 0)
            yield return ("dashboard.default_user.password", "must not be empty");
    }

    private static IPEndPoint? ParseEndPoint(string value)
    {
        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port))
            return port is > 0 and <= 65535 ? new IPEndPoint(IPAddress.Any, port) : null;
        return IPEndPoint.TryParse(value, out var endPoint) ? endPoint : null; // port 0: any free port (the log says which)
    }
}
