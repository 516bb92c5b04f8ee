using Broker.Plugins.Auth;

namespace Broker.Plugins.AuthLdap;

/// <summary>One <c>auth.ldap.filters.&lt;n&gt;</c>: an equality match, joined to the next one by <c>op</c>.</summary>
internal sealed class LdapFilterTerm
{
    [ConfKey("key", "The attribute, e.g. objectClass; ${username_attr} is username.attributetype.")]
    public string Key { get; set; } = "";

    [ConfKey("value", "The value it must equal; ${user} is the client's user name, ${username_attr} and ${device_dn} the keys' values. Escaped as RFC 4515 says, so a user name is never read as filter syntax.")]
    public string Value { get; set; } = "";

    [ConfKey("op", "How this term joins the next one: and, or (left to right, as EMQX 4: (1 op1 2) op2 3). Empty on the last term.")]
    public string Op { get; set; } = "";
}

/// <summary><c>auth.ldap.ssl.*</c>: the shared TLS keys, LDAP's own switch (ldaps) and StartTLS.</summary>
internal sealed class LdapTlsOptions : BackendTlsOptions
{
    [ConfKey("", "LDAP over TLS from the first byte (ldaps); the ssl.* keys below apply when on (or with ssl.starttls).")]
    public bool Enable { get; set; }

    [ConfKey("starttls", "Connect in plain LDAP, then upgrade with StartTLS before binding (RFC 4513); refuses to go on without TLS. Use instead of auth.ldap.ssl, on port 389.")]
    public bool StartTls { get; set; }

    [ConfKey("verify", "Check the server's certificate: its chain and that it names the host in servers (write the name the certificate carries, not an address). Turn off only for testing. (EMQX 4's default is verify_none.)")]
    public override bool Verify { get; set; } = true;

    /// <inheritdoc />
    public override IEnumerable<(string Key, string Error)> Validate()
    {
        if (Enable && StartTls)
            yield return ("starttls", "both auth.ldap.ssl (TLS from the first byte) and ssl.starttls (upgrade after connecting) are on: choose one");
        foreach (var error in base.Validate())
            yield return error;
    }
}

/// <summary>etc/plugins/auth_ldap.conf: EMQX 4's <c>auth.ldap.*</c> keys, with their defaults.</summary>
internal sealed class AuthLdapOptions : IValidatableOptions
{
    [ConfKey("auth.ldap.servers", "The LDAP servers, comma-separated host names or addresses; tried in order.")]
    public string Servers { get; set; } = "127.0.0.1";

    [ConfKey("auth.ldap.port", "The port of every server (389; ldaps usually 636).", Min = "1", Max = "65535")]
    public int Port { get; set; } = 389;

    [ConfKey("auth.ldap.pool", "How many connections bound as bind_dn search at the same time (and as many for bind_as_user binds).", Min = "1", Max = "256")]
    public int Pool { get; set; } = 8;

    [ConfKey("auth.ldap.bind_dn", "The DN the plugin binds as to search; empty = an anonymous bind.")]
    public string BindDn { get; set; } = "cn=root,dc=emqx,dc=io";

    [ConfKey("auth.ldap.bind_password", "bind_dn's password.")]
    public string BindPassword { get; set; } = "public";

    [ConfKey("auth.ldap.timeout", "How long one search or bind may take; it is abandoned after and the client is judged by on_error. (EMQX 4's default is 30s.)", Unit = ConfUnit.Duration, Min = "10ms")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    [ConfKey("auth.ldap.device_dn", "The DN under which the clients' entries are.")]
    public string DeviceDn { get; set; } = "ou=device,dc=emqx,dc=io";

    [ConfKey("auth.ldap.match_objectclass", "The object class a client's entry has.")]
    public string MatchObjectClass { get; set; } = "mqttUser";

    [ConfKey("auth.ldap.username.attributetype", "The attribute holding the client's user name.")]
    public string UsernameAttribute { get; set; } = "uid";

    [ConfKey("auth.ldap.password.attributetype", "The attribute holding the password: plain, or RFC 2307 {SHA}, {SSHA}, {MD5}, {SMD5}, {SHA256}, {SSHA256}, {SHA512}, {SSHA512}, {CRYPT}.")]
    public string PasswordAttribute { get; set; } = "userPassword";

    [ConfKey("auth.ldap.custom_base_dn", "Where the search starts (the whole subtree is searched): ${device_dn}, ${username_attr} and ${user} (the user name, escaped as RFC 4514 says), e.g. EMQX 4's ${username_attr}=${user},${device_dn}.")]
    public string CustomBaseDn { get; set; } = "${device_dn}";

    [ConfMap("auth.ldap.filters", "With at least one term, the search filter is these terms instead of (&(objectClass=<match_objectclass>)(<username.attributetype>=<user name>)), e.g. auth.ldap.filters.1.key = objectClass, .1.value = mqttUser, .1.op = and, .2.key = uid, .2.value = ${user}. Terms are taken in the order of their numbers.")]
    public Dictionary<string, LdapFilterTerm> Filters { get; set; } = [];

    [ConfKey("auth.ldap.bind_as_user", "Check the password by binding as the entry found with it (the server checks it; a refused bind is a wrong password) instead of comparing it with password.attributetype.")]
    public bool BindAsUser { get; set; }

    [ConfKey("auth.ldap.on_error", "What an LDAP error, timeout or outage means for the client: deny (CONNACK Server Unavailable, publish/subscribe refused) or ignore (the next source decides, then allow_anonymous / acl_nomatch).")]
    public OnError OnError { get; set; } = OnError.Deny;

    [ConfKey("auth.ldap.cache_on_outage", "While the server is unreachable, use a user's last successful lookup for this long after it was made (the password is still checked; not with bind_as_user); 0 = off.", Unit = ConfUnit.Duration, Min = "0s")]
    public TimeSpan CacheOnOutage { get; set; } = TimeSpan.Zero;

    [ConfSection("auth.ldap.ssl")]
    public LdapTlsOptions Ssl { get; } = new();

    /// <summary>The servers as a list.</summary>
    public string[] ServerList => Servers.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <inheritdoc />
    public IEnumerable<(string Key, string Error)> Validate()
    {
        if (ServerList.Length == 0)
            yield return ("auth.ldap.servers", "empty: name at least one server");
        foreach (var (name, term) in Filters)
        {
            if (!int.TryParse(name, out _))
                yield return ($"auth.ldap.filters.{name}", "filters are numbered: auth.ldap.filters.1.key, auth.ldap.filters.2.key, ...");
            if (term.Key.Length == 0)
                yield return ($"auth.ldap.filters.{name}.key", "empty: name the attribute");
            if (term.Op.Length > 0 && term.Op is not ("and" or "or"))
                yield return ($"auth.ldap.filters.{name}.op", $"'{term.Op}': expected and or or");
        }
        if (Filters.Count > 0 && !LdapFilter.JoinsAll(this))
            yield return ("auth.ldap.filters", "every term but the last needs an op (and, or) that joins it to the next");
    }
}
