using System.Net;

namespace Broker.Plugins.Auth;

/// <summary>What an ACL row grants or refuses: EMQX 4's <c>access</c> column (1 subscribe, 2 publish, 3 both).</summary>
[Flags]
public enum AclAccess
{
    /// <summary>Nothing (an unknown access value).</summary>
    None = 0,
    /// <summary>1: subscribe (and receive).</summary>
    Subscribe = 1,
    /// <summary>2: publish.</summary>
    Publish = 2,
    /// <summary>3: both.</summary>
    PubSub = 3,
}

/// <summary>
/// One ACL row as a backend returns it, in EMQX 4's shape: allow or deny, whom it is about (peer address or CIDR, user
/// name or <c>$all</c>, client id; each given field must match, none given = everyone), the access and the topic (a
/// filter, <c>eq &lt;filter&gt;</c> for that exact filter, <c>%u</c> and <c>%c</c> for the client's own). Redis and Mongo
/// rows allow and are about the client they were loaded for.
/// </summary>
public sealed record AclRule
{
    /// <summary>Allow (SQL <c>allow = 1</c>; every Redis and Mongo rule) or deny (<c>allow = 0</c>).</summary>
    public required bool Allow { get; init; }

    /// <summary>What the rule is about.</summary>
    public required AclAccess Access { get; init; }

    /// <summary>The topic as stored: a filter, <c>eq &lt;filter&gt;</c>, with placeholders.</summary>
    public required string Topic { get; init; }

    /// <summary>Peer address or CIDR (<c>ipaddr</c>), or null.</summary>
    public string? IpAddress { get; init; }

    /// <summary>User name or <c>$all</c> (<c>username</c>), or null.</summary>
    public string? Username { get; init; }

    /// <summary>Client id (<c>clientid</c>), or null.</summary>
    public string? ClientId { get; init; }

    /// <summary>Whether the rule is about <paramref name="client"/> (EMQX 4's <c>who</c>).</summary>
    public bool IsAbout(ClientInfo client)
    {
        if (Username == "$all")
            return true;
        if (!string.IsNullOrEmpty(Username) && !string.Equals(Username, client.Username, StringComparison.Ordinal))
            return false;
        if (!string.IsNullOrEmpty(ClientId) && !string.Equals(ClientId, client.ClientId, StringComparison.Ordinal))
            return false;
        return string.IsNullOrEmpty(IpAddress) || MatchesAddress(IpAddress, client.RemoteEndPoint?.Address);
    }

    private static bool MatchesAddress(string ipOrCidr, IPAddress? address)
    {
        if (address is null)
            return false;
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        if (ipOrCidr.Contains('/', StringComparison.Ordinal))
            return IPNetwork.TryParse(ipOrCidr, out var network) && network.Contains(address);
        return IPAddress.TryParse(ipOrCidr, out var exact) && exact.Equals(address);
    }
}
