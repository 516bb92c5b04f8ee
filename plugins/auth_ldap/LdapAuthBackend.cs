using System.Text;
using Broker.Plugins.Auth;
using Broker.Plugins.AuthLdap.Native;

namespace Broker.Plugins.AuthLdap;

/// <summary>
/// Finds a client's entry with one search (bound as <c>bind_dn</c>) and reads from it the password, <c>isEnabled</c>,
/// <c>isSuperuser</c> and the <c>mqtt*Topic</c> ACL; checks the password against the stored value or, with
/// <c>bind_as_user</c>, by binding as the entry. Both kinds of connection are pooled (at most <c>pool</c> each), opened
/// on demand; a connection that failed is closed, never reused.
/// </summary>
/// <remarks>
/// libldap's synchronous calls block, so each runs on the thread pool with the pool's size as the bound on threads
/// waiting for the server; each has <c>timeout</c> as its own limit besides the query's cancellation. The pools and
/// every libldap call are in Broker.Plugins.AuthLdap.Native, which the host loads once into its shared, never unloaded context
/// (plugin.json's sharedAssemblies): a thread blocked in libldap then has no frame of this plugin's collectible
/// context on its stack while a reload unloads it. Only plain data crosses to it.
/// </remarks>
internal sealed class LdapAuthBackend : IAuthBackend, IPasswordChecker
{
    private const string IsEnabled = "isEnabled";
    private const string IsSuperuser = "isSuperuser";
    private const string PublishTopic = "mqttPublishTopic";
    private const string SubscriptionTopic = "mqttSubscriptionTopic";
    private const string PubSubTopic = "mqttPubSubTopic";

    private readonly AuthLdapOptions _options;
    private readonly LdapFilter _filter;
    private readonly string[] _attributes;
    private readonly LdapPool _searchers;
    private readonly LdapPool _binders;

    public LdapAuthBackend(AuthLdapOptions options)
    {
        _options = options;
        _filter = new LdapFilter(options);
        _attributes = [options.PasswordAttribute, IsEnabled, IsSuperuser, PublishTopic, SubscriptionTopic, PubSubTopic];
        var settings = new LdapSettings(options.ServerList, options.Port, options.Timeout, options.BindDn, options.BindPassword,
            options.Ssl.Enable, options.Ssl.StartTls, options.Ssl.CaCertFile, options.Ssl.CertFile, options.Ssl.KeyFile, options.Ssl.Verify);
        _searchers = new LdapPool(settings, bindAsService: true, options.Pool);
        _binders = new LdapPool(settings, bindAsService: false, options.Pool);
    }

    public string Name => "LDAP";

    public bool HasAuthQuery => true;

    public bool HasSuperQuery => true;

    public bool HasAclQuery => true;

    /// <summary>The search, for the start-up log.</summary>
    public string Search => _filter.ToString();

    public async Task<StoredCredentials?> FindCredentialsAsync(ClientInfo client, CancellationToken cancellationToken)
    {
        if (await SearchAsync(client, cancellationToken).ConfigureAwait(false) is not { } entry)
            return null;
        // The DN rides in the salt, which RFC 2307 values do not need. A disabled entry (EMQX 4: isEnabled FALSE)
        // has neither password nor DN, so no password matches it. The search read the superuser flag and the ACL
        // too: the CONNECT needs no second search.
        return entry.Enabled
            ? new StoredCredentials(entry.Password, entry.Dn) { IsSuperuser = entry.Superuser, Acl = entry.Acl }
            : new StoredCredentials(null, null);
    }

    public async Task<bool> CheckPasswordAsync(ClientInfo client, ReadOnlyMemory<byte> password, StoredCredentials credentials, CancellationToken cancellationToken)
    {
        if (_options.BindAsUser)
        {
            // An empty password would be an unauthenticated bind (RFC 4513 §5.1.2), which some servers let succeed.
            if (password.IsEmpty || credentials.Salt is not { } dn)
                return false;
            var text = Encoding.UTF8.GetString(password.Span);
            return await _binders.BindAsync(dn, text, cancellationToken).ConfigureAwait(false);
        }
        if (credentials.Password is not { } stored)
            return false;
        return Rfc2307Password.IsSlow(stored)
            ? await Task.Run(() => Rfc2307Password.Verify(password.Span, stored), cancellationToken).ConfigureAwait(false)
            : Rfc2307Password.Verify(password.Span, stored);
    }

    public async Task<bool> IsSuperuserAsync(ClientInfo client, CancellationToken cancellationToken) =>
        (await SearchAsync(client, cancellationToken).ConfigureAwait(false))?.Superuser == true;

    public async Task<IReadOnlyList<AclRule>> LoadAclAsync(ClientInfo client, CancellationToken cancellationToken) =>
        (await SearchAsync(client, cancellationToken).ConfigureAwait(false))?.Acl ?? [];

    public Task PingAsync(CancellationToken cancellationToken) =>
        // The root DSE: any server answers it, bound or not.
        _searchers.PingAsync(cancellationToken);

    public bool IsUnreachable(Exception exception) => exception is LdapError { Unreachable: true };

    public async ValueTask DisposeAsync()
    {
        // Waits for the libldap calls still running (each ends by its own timeout at the latest): once the plugin has
        // stopped, no thread runs its code while the broker unloads it.
        var limit = _options.Timeout + TimeSpan.FromSeconds(1);
        await Task.WhenAll(_searchers.CloseAsync(limit), _binders.CloseAsync(limit)).ConfigureAwait(false);
    }

    private async Task<Entry?> SearchAsync(ClientInfo client, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(client.Username))
            return null; // no user name, nothing to look for: the next source decides
        var baseDn = _filter.BaseDn(client.Username);
        var filter = _filter.For(client.Username);
        var found = await _searchers.SearchAsync(baseDn, LdapScope.Subtree, filter, _attributes, 2, cancellationToken).ConfigureAwait(false);
        return found switch
        {
            [] => null,
            [var entry] => Read(entry),
            _ => throw new InvalidOperationException($"more than one entry matches the search {_filter}: the user name is ambiguous"),
        };
    }

    private Entry Read(LdapEntry result)
    {
        var password = First(result, _options.PasswordAttribute);
        var enabled = First(result, IsEnabled) is not { } flag || !flag.Equals("FALSE", StringComparison.OrdinalIgnoreCase);
        var superuser = First(result, IsSuperuser) is { } super && super.Equals("TRUE", StringComparison.OrdinalIgnoreCase);
        var acl = new List<AclRule>();
        foreach (var (attribute, access) in new[] { (PublishTopic, AclAccess.Publish), (SubscriptionTopic, AclAccess.Subscribe), (PubSubTopic, AclAccess.PubSub) })
        {
            foreach (var topic in Values(result, attribute))
            {
                if (topic.Length > 0)
                    acl.Add(new AclRule { Allow = true, Access = access, Topic = topic });
            }
        }
        return new Entry(result.Dn, password, enabled, superuser, acl);
    }

    private static string? First(LdapEntry entry, string attribute) => Values(entry, attribute).FirstOrDefault();

    // UTF-8: what slappasswd and ldapadd write, and LDAP's string syntax.
    private static IEnumerable<string> Values(LdapEntry entry, string attribute) =>
        entry.Attributes.TryGetValue(attribute, out var values) ? values.Select(v => Encoding.UTF8.GetString(v)) : [];

    /// <summary>What the search found.</summary>
    private sealed record Entry(string Dn, string? Password, bool Enabled, bool Superuser, IReadOnlyList<AclRule> Acl);
}
