namespace Broker.Plugins.AuthLdap.Native;

/// <summary>
/// Where and how a <see cref="LdapPool"/> connects: plain data copied from the plugin's options (this assembly outlives
/// every load of the plugin, so it holds none of the plugin's types).
/// </summary>
/// <param name="Servers">The servers' host names or addresses, tried in order.</param>
/// <param name="Port">The port of every server.</param>
/// <param name="Timeout">The connect timeout and the limit of each operation.</param>
/// <param name="BindDn">The DN a pool with <c>bindAsService</c> binds as; empty = an anonymous bind.</param>
/// <param name="BindPassword"><paramref name="BindDn"/>'s password.</param>
/// <param name="SslEnable">ldaps.</param>
/// <param name="SslStartTls">StartTLS on the plain port.</param>
/// <param name="SslCaCertFile">The CA certificates file; empty = the system's.</param>
/// <param name="SslCertFile">The client certificate file; empty = none.</param>
/// <param name="SslKeyFile">The client certificate's key file.</param>
/// <param name="SslVerify">Whether the server's certificate is verified.</param>
public sealed record LdapSettings(
    string[] Servers,
    int Port,
    TimeSpan Timeout,
    string BindDn,
    string BindPassword,
    bool SslEnable,
    bool SslStartTls,
    string SslCaCertFile,
    string SslCertFile,
    string SslKeyFile,
    bool SslVerify);

/// <summary>The search scopes of <see cref="LdapPool.SearchAsync"/>.</summary>
public static class LdapScope
{
    /// <summary>The base entry only.</summary>
    public const int Base = LibLdap.ScopeBase;

    /// <summary>The base entry and everything under it.</summary>
    public const int Subtree = LibLdap.ScopeSubtree;
}
