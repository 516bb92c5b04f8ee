using System.Globalization;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>
/// auth_http (issue 21 item 2) against an auth service on Python's http.server (tests/interop/http_auth_server.py):
/// EMQX 4's outcomes, superuser, ACL by request and by the auth answer, form/JSON/GET, injection, outage, timeout,
/// and that the service never sees a password in what it logs (it prints every request without it); against an
/// ASP.NET Core service (tests/AuthHttpService): HTTPS with ssl.*, and reloads under load.
/// </summary>
public sealed class AuthHttpTests
{
    private sealed class Service : IAsyncDisposable
    {
        private readonly ChildProcess _process;

        private Service(ChildProcess process, int port)
        {
            _process = process;
            Port = port;
        }

        public int Port { get; }

        public string Url => "http://127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

        public string HttpsUrl => "https://127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

        public IReadOnlyList<string> Requests => _process.StdoutLines.Where(l => l.StartsWith("POST ", StringComparison.Ordinal) || l.StartsWith("GET ", StringComparison.Ordinal)).ToList();

        /// <summary>The service on Python's http.server.</summary>
        public static async Task<Service> StartAsync(int? port = null)
        {
            var p = port ?? FreePorts.Next();
            var process = ChildProcess.Start(Tools.Python, [Path.Combine(Tools.InteropDirectory, "http_auth_server.py"), p.ToString(CultureInfo.InvariantCulture)]);
            await process.WaitForLineAsync(l => l == "auth service ready", TimeSpan.FromSeconds(20), "the auth service ready");
            return new Service(process, p);
        }

        /// <summary>The ASP.NET Core service (tests/AuthHttpService): alice/secret, root is a superuser, acl allows allowed/; HTTPS with <c>--cert</c>.</summary>
        public static async Task<Service> StartKestrelAsync(params string[] arguments)
        {
            var p = FreePorts.Next();
            var process = ChildProcess.Start("dotnet", [Path.Combine(AppContext.BaseDirectory, "auth-http-service.dll"), "--port", p.ToString(CultureInfo.InvariantCulture), .. arguments]);
            await process.WaitForLineAsync(l => l == "auth service ready", TimeSpan.FromSeconds(30), "the ASP.NET Core auth service ready");
            return new Service(process, p);
        }

        public ValueTask DisposeAsync() => _process.DisposeAsync();
    }

    private static string Conf(string url, string extra = "") =>
        $"auth.http.auth_req.url = {url}/mqtt/auth\nauth.http.super_req.url = {url}/mqtt/superuser\nauth.http.acl_req.url = {url}/mqtt/acl\n" + extra;

    private static Task<BrokerProcess> StartAsync(string conf) => BrokerProcess.StartAsync(o =>
    {
        o["allow_anonymous"] = "false";
        o["acl_nomatch"] = "deny";
        o.Users.Add(("ignored", "i-pass"));
        o.Users.Add(("carol", "c-pass"));
        o.LoadedPlugins.Add("auth_http");
        o.PluginConf["auth_http"] = conf;
    });

    // 200 = allowed, 200 "ignore" = the next source (the password file), anything else = Bad User Name or Password.
    [Theory]
    [InlineData("")]
    [InlineData("auth.http.auth_req.headers.content_type = application/json\n")]
    [InlineData("auth.http.auth_req.method = get\n")]
    public async Task Outcomes_FormJsonOrGet_AndNoPasswordReachesTheServicesLog(string variant)
    {
        await using var service = await Service.StartAsync();
        await using var broker = await StartAsync(Conf(service.Url, variant));

        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "secret"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", "wrong"));
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "ignored", "i-pass")); // "ignore": the password file decides
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "ignored", "wrong"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "carol", "c-pass")); // 401 denies: no fall-through
        Assert.Contains(service.Requests, r => r.Contains("\"username\": \"alice\"", StringComparison.Ordinal) && r.Contains("\"clientid\"", StringComparison.Ordinal));
    }

    // Superuser by super_req and by the auth answer's is_superuser; ACL by acl_req (per check) and by the auth answer's acl.
    // 3.1.1 §3.9.3: a refused filter is SUBACK 0x80.
    [Fact]
    public async Task Superuser_AndAcl_ByRequestAndByTheAuthAnswer()
    {
        await using var service = await Service.StartAsync();
        await using var broker = await StartAsync(Conf(service.Url));

        Assert.Equal([0x01, 0x80], await Backends.SubackAsync(broker, "alice", "secret", "allowed/x", "other/x"));
        Assert.Equal([0x01, 0x01], await Backends.SubackAsync(broker, "root", "r-pass", "allowed/x", "other/x"));
        Assert.Equal([0x01, 0x01], await Backends.SubackAsync(broker, "boss", "b-pass", "allowed/x", "other/x"));
        Assert.Equal([0x01, 0x80, 0x80], await Backends.SubackAsync(broker, "scoped", "s-pass", "down/x", "up/scoped", "allowed/x"));
        Assert.Contains(service.Requests, r => r.StartsWith("POST /mqtt/acl", StringComparison.Ordinal) && r.Contains("\"access\": \"1\"", StringComparison.Ordinal));
    }

    // Values are encoded for where they go: a user name carrying "&password=secret" is one user name.
    [Fact]
    public async Task Injection_UserNameIsOneValue()
    {
        await using var service = await Service.StartAsync();
        await using var broker = await StartAsync(Conf(service.Url));

        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice&password=secret", "x"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice\",\"password\":\"secret", "x"));
    }

    // Fail closed: no service (down at start), then a service that takes longer than timeout: Server Unavailable;
    // on_error = ignore lets the password file decide. The service coming up needs no restart.
    [Fact]
    public async Task Outage_Timeout_AndOnErrorIgnore()
    {
        var port = FreePorts.Next();
        var url = "http://127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture);
        await using (var broker = await StartAsync(Conf(url, "auth.http.timeout = 1s\n")))
        {
            Assert.Equal("broker unavailable", await Backends.ConnectAsync(broker, "alice", "secret"));
            await using var service = await Service.StartAsync(port);
            Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "secret"));
        }

        await using var slow = await Service.StartAsync();
        await using (var broker = await StartAsync($"auth.http.auth_req.url = {slow.Url}/mqtt/slow\nauth.http.super_req.url = \"\"\nauth.http.acl_req.url = \"\"\nauth.http.timeout = 1s\n"))
        {
            var started = TimeProvider.System.GetTimestamp();
            Assert.Equal("broker unavailable", await Backends.ConnectAsync(broker, "alice", "secret"));
            Assert.InRange(TimeProvider.System.GetElapsedTime(started), TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(4));
            await broker.WaitForLogAsync(l => l.Contains("no answer within 1000 ms", StringComparison.Ordinal), "the timeout logged");
        }

        var nowhere = "http://127.0.0.1:" + FreePorts.Next().ToString(CultureInfo.InvariantCulture);
        await using var ignoring = await StartAsync(Conf(nowhere, "auth.http.on_error = ignore\n"));
        await ignoring.WaitForLogAsync(l => l.Contains("Plugin auth_http started at boot", StringComparison.Ordinal), "auth_http running");
        Assert.Equal("accepted", await Backends.ConnectAsync(ignoring, "carol", "c-pass"));
    }

    // ssl.*: the service's certificate checked against ssl.cacertfile and the name in ssl.server_name_indication (the
    // certificate names localhost and 127.0.0.1), this broker's client certificate (ssl.certfile/keyfile) presented to a
    // service that requires one. A refused certificate fails closed (Server Unavailable) and the log says why.
    [Fact]
    public async Task Https_ServerCheckedByCaAndName_ClientCertificatePresented()
    {
        using var certs = TestCertificates.Create();
        await using var service = await Service.StartKestrelAsync("--cert", certs.ServerCertFile, "--key", certs.ServerKeyFile, "--client-ca", certs.CaFile);
        var client = $"auth.http.ssl.certfile = {certs.ClientCertFile}\nauth.http.ssl.keyfile = {certs.ClientKeyFile}\n";

        async Task<string> ConnectWithAsync(string ssl, bool logsRefusal = false)
        {
            await using var broker = await StartAsync(Conf(service.HttpsUrl, ssl));
            var outcome = await Backends.ConnectAsync(broker, "alice", "secret");
            if (logsRefusal)
                await broker.WaitForLogAsync(l => l.Contains("the server's certificate CN=localhost was refused", StringComparison.Ordinal), "the refused certificate logged");
            return outcome;
        }

        Assert.Equal("accepted", await ConnectWithAsync($"auth.http.ssl.cacertfile = {certs.CaFile}\n" + client));
        Assert.Equal("accepted", await ConnectWithAsync($"auth.http.ssl.cacertfile = {certs.CaFile}\nauth.http.ssl.server_name_indication = localhost\n" + client));
        Assert.Equal("broker unavailable", await ConnectWithAsync($"auth.http.ssl.cacertfile = {certs.CaFile}\nauth.http.ssl.server_name_indication = elsewhere.example\n" + client, logsRefusal: true));
        Assert.Equal("broker unavailable", await ConnectWithAsync($"auth.http.ssl.cacertfile = {certs.OtherCaFile}\n" + client, logsRefusal: true));
        Assert.Equal("accepted", await ConnectWithAsync($"auth.http.ssl.cacertfile = {certs.OtherCaFile}\nauth.http.ssl.verify = false\n" + client));
        Assert.Equal("broker unavailable", await ConnectWithAsync($"auth.http.ssl.cacertfile = {certs.CaFile}\n")); // no client certificate
    }

    // Reload 20 times under the same load as the other auth plugins (auth_reload_load.js), against the ASP.NET Core
    // service: the right password never refused, the wrong one never admitted, nothing dropped, no instance leaking.
    [Fact]
    public async Task Reload20Times_UnderConnectLoad_NoWrongAdmittedNoRightRefusedNothingDropped()
    {
        await using var service = await Service.StartKestrelAsync();
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o["allow_anonymous"] = "false";
            o["login_failure.delay_after"] = "0";
            o["login_failure.ban_after"] = "0";
            o.LoadedPlugins.Add("auth_http");
            o.PluginConf["auth_http"] = Conf(service.Url).Replace($"{service.Url}/mqtt/acl", "\"\"", StringComparison.Ordinal); // control/stop is not under allowed/
        });
        await Backends.Reload20TimesUnderConnectLoadAsync(broker, "auth_http", "secret");
    }
}
