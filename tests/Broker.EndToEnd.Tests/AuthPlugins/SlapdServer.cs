using System.Globalization;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>
/// A private Debian <c>slapd</c> for one test class (or one test that kills or freezes it): a fresh cn=config made with <c>slapadd -n0</c> in a temporary directory
/// (never the system's /etc/ldap/slapd.d), the core, cosine, inetorgperson and nis schemas from /etc/ldap/schema plus
/// the mqttUser schema auth_ldap ships (plugins/auth_ldap/schema/emqx.schema.ldif), an mdb database for
/// <c>dc=example,dc=org</c> with root <c>cn=admin,dc=example,dc=org</c>, and <c>ou=devices</c> for the clients. It
/// listens on a free port on 127.0.0.1 (plain LDAP and StartTLS) and, with certificates, on a second one for ldaps.
/// Entries are added with <c>ldapadd</c>; the database survives a kill, as a real directory's does.
/// </summary>
public sealed class SlapdServer : IAuthBackendServer
{
    public const string Suffix = "dc=example,dc=org";
    public const string DevicesDn = "ou=devices," + Suffix;
    public const string AdminDn = "cn=admin," + Suffix;
    public const string AdminPassword = "admin-secret";

    private readonly string _directory = Directory.CreateTempSubdirectory("broker-slapd-").FullName;
    private readonly TestCertificates? _tls;
    private ChildProcess? _process;

    private SlapdServer(TestCertificates? tls)
    {
        _tls = tls;
        Port = FreePorts.Next();
        TlsPort = FreePorts.Next();
    }

    /// <summary>Plain LDAP (and StartTLS, with certificates).</summary>
    public int Port { get; }

    /// <summary>ldaps, with certificates.</summary>
    public int TlsPort { get; }

    /// <summary>The .conf lines that point auth_ldap at this server, plain LDAP.</summary>
    public string Conf => $"""
        auth.ldap.servers = 127.0.0.1
        auth.ldap.port = {Port}
        auth.ldap.bind_dn = {AdminDn}
        auth.ldap.bind_password = {AdminPassword}
        auth.ldap.device_dn = {DevicesDn}

        """;

    /// <summary>
    /// Starts one with an empty <c>ou=devices</c>, or fails naming the Debian package. With <paramref name="tls"/>: the
    /// server certificate (CN localhost; SAN localhost and 127.0.0.1) on both ports.
    /// </summary>
    public static async Task<SlapdServer> StartAsync(TestCertificates? tls = null)
    {
        var server = new SlapdServer(tls);
        try
        {
            await server.ConfigureAsync();
            await server.StartProcessAsync();
            await server.AddBaseAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync(); // a slapd left running would outlive the test
            throw;
        }
    }

    private Task AddBaseAsync() =>
        AddAsync($"""
            dn: {Suffix}
            objectClass: dcObject
            objectClass: organization
            dc: example
            o: Example

            dn: {DevicesDn}
            objectClass: organizationalUnit
            ou: devices
            """);

    private async Task ConfigureAsync()
    {
        var slapadd = Sbin("slapadd");
        var schema = Path.Combine(Tools.RepoRoot, "plugins", "auth_ldap", "schema", "emqx.schema.ldif");
        Directory.CreateDirectory(Path.Combine(_directory, "slapd.d"));
        Directory.CreateDirectory(Path.Combine(_directory, "data"));
        var tls = _tls is null ? "" : $"""
            olcTLSCACertificateFile: {_tls.CaFile}
            olcTLSCertificateFile: {_tls.ServerCertFile}
            olcTLSCertificateKeyFile: {_tls.ServerKeyFile}

            """;
        var config = Path.Combine(_directory, "config.ldif");
        await File.WriteAllTextAsync(config, $$"""
            dn: cn=config
            objectClass: olcGlobal
            cn: config
            olcPidFile: {{_directory}}/slapd.pid
            {{tls}}
            dn: cn=module{0},cn=config
            objectClass: olcModuleList
            cn: module{0}
            olcModulePath: /usr/lib/ldap
            olcModuleLoad: back_mdb

            dn: cn=schema,cn=config
            objectClass: olcSchemaConfig
            cn: schema

            include: file:///etc/ldap/schema/core.ldif
            include: file:///etc/ldap/schema/cosine.ldif
            include: file:///etc/ldap/schema/inetorgperson.ldif
            include: file:///etc/ldap/schema/nis.ldif
            include: file://{{schema}}

            dn: olcDatabase={-1}frontend,cn=config
            objectClass: olcDatabaseConfig
            objectClass: olcFrontendConfig
            olcDatabase: {-1}frontend

            dn: olcDatabase={0}config,cn=config
            objectClass: olcDatabaseConfig
            olcDatabase: {0}config

            dn: olcDatabase={1}mdb,cn=config
            objectClass: olcDatabaseConfig
            objectClass: olcMdbConfig
            olcDatabase: {1}mdb
            olcDbDirectory: {{_directory}}/data
            olcSuffix: {{Suffix}}
            olcRootDN: {{AdminDn}}
            olcRootPW: {{AdminPassword}}

            """);
        await Backends.RunAsync(slapadd, ["-n0", "-F", Path.Combine(_directory, "slapd.d"), "-l", config]);
    }

    /// <summary>Starts slapd (again, on the same ports and database) and waits until it accepts connections.</summary>
    public async Task StartProcessAsync()
    {
        var urls = $"ldap://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/"
            + (_tls is null ? "" : $" ldaps://127.0.0.1:{TlsPort.ToString(CultureInfo.InvariantCulture)}/");
        // -d none: in the foreground, logging only what is always logged (start, stop, errors) to stderr.
        _process = ChildProcess.Start(Sbin("slapd"), ["-h", urls, "-F", Path.Combine(_directory, "slapd.d"), "-d", "none"], stderrIsOutput: true);
        await _process.WaitForLineAsync(l => l.Contains("slapd starting", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "slapd starting");
        // slapd says "starting" before its daemon thread calls listen(): until then a connection is refused.
        var started = TimeProvider.System.GetTimestamp();
        while (true)
        {
            try
            {
                using var probe = new System.Net.Sockets.TcpClient();
                await probe.ConnectAsync(System.Net.IPAddress.Loopback, Port, TestContext.Current.CancellationToken);
                return;
            }
            catch (System.Net.Sockets.SocketException) when (TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(20) && !_process.HasExited)
            {
                await Task.Delay(50, TestContext.Current.CancellationToken); // polling for the listener, not ordering by sleep
            }
        }
    }

    /// <summary>Kills it (SIGKILL): connections drop, nothing is said goodbye; the mdb database survives.</summary>
    public async Task KillAsync() => _process = await Backends.KillAsync(_process);

    /// <summary>Freezes (SIGSTOP) or thaws (SIGCONT) the server: connections are accepted and kept, answers stop.</summary>
    public void Freeze(bool frozen) => _process!.Signal(frozen ? "STOP" : "CONT");

    /// <summary>Adds entries with <c>ldapadd</c>, bound as the root DN.</summary>
    public Task AddAsync(string ldif) => LdapToolAsync("ldapadd", ldif);

    /// <summary>Deletes <c>ou=devices</c> with everything under it (<c>ldapdelete -r</c>) and adds it again, empty.</summary>
    public async Task ResetAsync()
    {
        await LdapToolAsync("ldapdelete", DevicesDn, "-r");
        await AddAsync($"dn: {DevicesDn}\nobjectClass: organizationalUnit\nou: devices");
    }

    /// <summary>Runs an ldap-utils tool bound as the root DN, with <paramref name="input"/> (LDIF, or DNs for ldapdelete) as its file.</summary>
    private async Task LdapToolAsync(string tool, string input, params string[] options)
    {
        var file = Path.Combine(_directory, $"{tool}-{Guid.NewGuid():N}.ldif");
        await File.WriteAllTextAsync(file, input.ReplaceLineEndings("\n") + "\n");
        await Backends.RunAsync(Tools.Require(tool, "ldap-utils"),
            ["-x", "-H", $"ldap://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}", "-D", AdminDn, "-w", AdminPassword, .. options, "-f", file]);
    }

    public string Plugin => "auth_ldap";

    public string SaltConf => ""; // RFC 2307 values carry their salt

    public Task AddUserAsync(string user, string stored, string? salt = null, bool superuser = false) =>
        AddEntryAsync(user, stored, superuser ? "isSuperuser: TRUE" : "isSuperuser: FALSE");

    /// <summary>Adds a topic to the entry's mqttSubscriptionTopic (1), mqttPublishTopic (2) or mqttPubSubTopic (3).</summary>
    public Task AllowAsync(string user, string topic, int access)
    {
        var attribute = access switch { 1 => "mqttSubscriptionTopic", 2 => "mqttPublishTopic", _ => "mqttPubSubTopic" };
        return LdapToolAsync("ldapmodify", $"dn: uid={user},{DevicesDn}\nchangetype: modify\nadd: {attribute}\n{attribute}: {topic}");
    }

    /// <summary>
    /// A client entry <c>uid=&lt;user&gt;,ou=devices</c> of EMQX's classes (mqttDevice, mqttSecurity, mqttUser) with
    /// <paramref name="userPassword"/> as stored and any further attribute lines (<c>mqttPublishTopic: a/#</c>).
    /// </summary>
    public Task AddEntryAsync(string user, string userPassword, params string[] attributes) =>
        AddAsync($"""
            dn: uid={user},{DevicesDn}
            objectClass: mqttDevice
            objectClass: mqttSecurity
            objectClass: mqttUser
            uid: {user}
            userPassword: {userPassword}
            {string.Join('\n', attributes)}
            """.TrimEnd());

    /// <summary><c>slappasswd -h {scheme}</c> of <paramref name="password"/>: RFC 2307 hashes made by OpenLDAP itself.</summary>
    public static async Task<string> SlappasswdAsync(string scheme, string password, string? cryptFormat = null) =>
        (await Backends.RunAsync(Sbin("slappasswd"),
            ["-h", scheme, "-s", password, .. cryptFormat is null ? Array.Empty<string>() : ["-c", cryptFormat]])).Trim();

    /// <summary>slapd's tools live in /usr/sbin, which a non-root PATH may lack.</summary>
    private static string Sbin(string tool) => File.Exists("/usr/sbin/" + tool) ? "/usr/sbin/" + tool : Tools.Require(tool, "slapd");

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
