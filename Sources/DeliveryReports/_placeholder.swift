// DeliveryReports
