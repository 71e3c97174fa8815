/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for dpdk-testpmd 22.11 with the netvsc PMD (Debian 12).
 *
 * testpmd 22.11 asks each queue's state (rte_eth_{rx,tx}_queue_info_get)
 * when forwarding starts and disables every stream whose queue reports
 * RTE_ETH_QUEUE_STATE_STOPPED.  The netvsc PMD of 22.11 never sets its
 * queues' state, so they stay STOPPED and testpmd forwards nothing (its
 * forwarding lcore spins without polling).  DPDK fixed the PMD in 23.11
 * ("net/netvsc: set queue state after start/stop").  Answering -ENOTSUP
 * here makes testpmd keep the state it set itself at queue setup
 * (STARTED), as it does for PMDs without queue info; the PMD is not
 * touched.  testpmd only uses the info for that and for display.
 */
#include <errno.h>
#include <stdint.h>

struct rte_eth_rxq_info;
struct rte_eth_txq_info;

int rte_eth_rx_queue_info_get(uint16_t port_id, uint16_t queue_id, struct rte_eth_rxq_info *qinfo);
int rte_eth_tx_queue_info_get(uint16_t port_id, uint16_t queue_id, struct rte_eth_txq_info *qinfo);

int rte_eth_rx_queue_info_get(uint16_t port_id, uint16_t queue_id, struct rte_eth_rxq_info *qinfo)
{
	(void)port_id;
	(void)queue_id;
	(void)qinfo;
	return -ENOTSUP;
}

int rte_eth_tx_queue_info_get(uint16_t port_id, uint16_t queue_id, struct rte_eth_txq_info *qinfo)
{
	(void)port_id;
	(void)queue_id;
	(void)qinfo;
	return -ENOTSUP;
}
